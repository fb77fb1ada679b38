"""Job configuration models: one YAML per job, overridden by ``key=value`` on the command line.

Every model forbids unknown keys, so a typo fails loudly with the key's dotted path instead of
silently running with a default.

This module holds what every job shares (the strict base model, executor, shard and audit
sections, ``JobConfig``, the ``pack`` job) and the loading, override and ``--help`` helpers.
Each job's own sections live beside it: ``schemas.config_interleaved``, ``schemas.config_pairs``,
``schemas.config_pdf``, ``schemas.config_docmatix``, ``schemas.config_rendered_text``, and the
sections two jobs share, ``schemas.config_images`` and ``schemas.config_governance``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SlurmConfig(StrictModel):
    partition: str | None = Field(None, description="Slurm partition to submit to")
    time: str = Field("24:00:00", description="time limit per Slurm job")
    cpus_per_task: int = Field(1, ge=1, description="CPUs requested per Slurm task")
    mem_per_cpu_gb: float = Field(2, gt=0, description="memory requested per CPU, in GB")
    qos: str | None = Field(None, description="Slurm quality of service")


class ExecutorConfig(StrictModel):
    kind: Literal["local", "ray", "slurm"] = Field(
        "ray",
        description="ray: Ray cluster at ray_address / RAY_ADDRESS, else an embedded local Ray; "
        "local: local processes; slurm: a chain of Slurm jobs",
    )
    tasks: int = Field(2, ge=1, description="tasks per parallel stage (input files are split among them)")
    workers: int = Field(-1, description="tasks run at once; -1 means as many as tasks")
    ray_address: str | None = Field(None, description="Ray cluster address; unset starts an embedded Ray")
    cpus_per_task: int = Field(1, ge=1, description="CPUs Ray reserves for each task")
    mem_per_cpu_gb: float = Field(2, gt=0, description="memory Ray reserves per CPU, in GB")
    slurm: SlurmConfig = SlurmConfig()


class ShardConfig(StrictModel):
    max_bytes: int = Field(1_000_000_000, ge=1024, description="a shard is closed once it reaches this size")
    max_samples: int = Field(10_000, ge=1, description="a shard is closed once it holds this many samples")
    image_format: Literal["jpg", "png", "webp"] = Field(
        "jpg", description="every image of a dataset is stored in this format; others are re-encoded"
    )
    jpeg_quality: int = Field(90, ge=1, le=100, description="quality used when re-encoding to JPEG or WebP")
    tokenizer: str | None = Field(
        None, description="path of a tokenizer.json; when set the manifest counts tokens as well"
    )


class AuditConfig(StrictModel):
    reservoir_size: int = Field(32, ge=0, description="dropped items kept as examples per stage and reason")
    thumbnail_px: int = Field(128, ge=16, le=512, description="longest side of example thumbnails")


class JobConfig(StrictModel):
    """Options every job shares."""

    dataset: str = Field(..., pattern=NAME_PATTERN, description="dataset name, used in shard names")
    output_dir: str = Field("out", description="OUT: the dataset is written to OUT/<dataset>/")
    executor: ExecutorConfig = ExecutorConfig()
    shards: ShardConfig = ShardConfig()
    audit: AuditConfig = AuditConfig()
    seed: int = Field(0, description="seed of every random choice a job makes")

    @property
    def dataset_dir(self) -> str:
        return f"{self.output_dir.rstrip('/')}/{self.dataset}"


class PackConfig(JobConfig):
    """The ``pack`` job: staged documents (Parquet) of one kind -> shards + manifest."""

    input: str = Field(..., description="folder of staged Parquet documents (local path or fsspec URL)")
    kind: Literal["interleaved", "pair", "ocr", "qa"] = Field(..., description="sample kind of the documents")


class ConfigError(ValueError):
    """A configuration problem, with a message naming the file and key."""


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}=...: '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["shards.max_samples=100", "dataset=x"]`` -> nested dict; values parsed as YAML scalars."""
    data: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. shards.max_samples=100)")
        _set_dotted(data, key.strip(), yaml.safe_load(raw) if raw else "")
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_settings(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied as overrides are: dotted keys expanded, nested mappings
    merged, anything else (lists included) replaced; neither argument is modified."""
    nested: dict[str, Any] = {}
    for key, value in changes.items():
        _set_dotted(nested, key, copy.deepcopy(value))
    return _merge(copy.deepcopy(base), nested)


def format_validation_error(error: ValidationError, origin: str) -> str:
    lines = [f"{origin}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        if item["type"] == "extra_forbidden":
            lines.append(
                f"  {key}: unknown key (check the spelling; `vlmdata run JOB --help` lists the keys)"
            )
        elif item["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def load_config(model: type[JobConfig], path: str | Path | None, overrides: list[str] = ()) -> JobConfig:
    """Read a YAML config, apply ``key=value`` overrides, validate against ``model``."""
    origin = str(path) if path else "config"
    data: dict[str, Any] = {}
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    data = _merge(data, parse_overrides(list(overrides)))
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, origin)) from None


def describe_options(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, description) for every option of a config model, for ``--help``."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += describe_options(annotation, f"{key}.")
            continue
        default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
        rows.append((key, default, field.description or ""))
    return rows
