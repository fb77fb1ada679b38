def test_ray_state():
    import ray

    assert not ray.is_initialized()
