import pytest

from schemas.config import ConfigError, PackConfig, load_config, parse_overrides


def test_overrides_are_nested_and_typed():
    assert parse_overrides(["shards.max_samples=100", "dataset=x", "executor.ray_address=null"]) == {
        "shards": {"max_samples": 100},
        "dataset": "x",
        "executor": {"ray_address": None},
    }


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("dataset: a\ninput: in\nkind: pair\nshards:\n  max_samples: 5\n")
    cfg = load_config(PackConfig, path, ["shards.max_samples=7", "executor.tasks=3"])
    assert (cfg.dataset, cfg.shards.max_samples, cfg.executor.tasks, cfg.shards.max_bytes) == (
        "a",
        7,
        3,
        1_000_000_000,
    )


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["shards.max_sampels=3"], "shards.max_sampels: unknown key"),
        (["shards.max_samples=0"], "shards.max_samples: Input should be greater than or equal to 1"),
        (["kind=video"], "kind: Input should be"),
        (["dataset=has.dot"], "dataset: String should match pattern"),
        (["executor.kind=k8s"], "executor.kind"),
        (["shards=3"], "shards"),
    ],
)
def test_bad_keys_and_values_name_the_key(overrides, needle):
    base = ["dataset=a", "input=in", "kind=pair"]
    with pytest.raises(ConfigError) as error:
        load_config(PackConfig, None, base + overrides)
    assert needle in str(error.value)


def test_missing_required_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="input: required key is missing"):
        load_config(PackConfig, None, ["dataset=a", "kind=pair"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(PackConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(PackConfig, bad)
    with pytest.raises(ConfigError, match="not of the form key=value"):
        load_config(PackConfig, None, ["dataset"])
