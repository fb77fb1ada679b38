"""The bundled training module: an Idefics2/Idefics3-style model trained from our shards."""
