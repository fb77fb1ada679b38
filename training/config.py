"""The training configuration: one YAML (``configs/train.yaml``) overridden by ``key=value``.

Like the job configs in ``schemas.config``, every section forbids unknown keys, so a typo fails
with its dotted path instead of silently training with a default.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from schemas.config import StrictModel

Probability = Annotated[float, Field(ge=0, le=1)]


class DatasetSpec(StrictModel):
    """One shard dataset in the mixture, with the settings that may differ per dataset (unset:
    the ``data`` section's)."""

    manifest: str = Field(..., description="path of OUT/<dataset>/manifest.json")
    weight: float = Field(1.0, gt=0, description="mixture weight (weights are normalised over datasets)")
    max_length: int | None = Field(
        None, ge=16, description="most tokens of one sample of this dataset (at most data.max_length)"
    )
    max_image_size: int | None = Field(None, ge=8, description="longest image side (see data.max_image_size)")
    min_image_size: int | None = Field(
        None, ge=0, description="shortest image side (see data.min_image_size)"
    )
    image_splitting: bool | Probability | None = Field(
        None, description="true, false, or the share of images split (drawn per image)"
    )
    random_resolution: tuple[int, int] | None = Field(
        None, description="[min, max]: the longest image side drawn per image from this range"
    )
    shuffle_turns: bool | None = Field(None, description="shuffle the turns of multi-turn qa samples")
    caption: Literal["original", "synthetic", "random"] = Field(
        "original",
        description="pair samples: which caption trains: the original, the synthetic one of "
        "meta.captions (the original where there is none), or either drawn per sample",
    )

    @model_validator(mode="after")
    def _range(self) -> DatasetSpec:
        if self.random_resolution and not 8 <= self.random_resolution[0] <= self.random_resolution[1]:
            raise ValueError(f"random_resolution {list(self.random_resolution)}: need 8 <= min <= max")
        return self


class ModelConfig(StrictModel):
    """Tiny sizes build a random model from a config; ``path`` loads a checkpoint instead;
    ``vision`` + ``text`` build one from two backbones (``training.model.from_backbones``)."""

    arch: Literal["idefics2", "idefics3"] = Field("idefics3", description="model family of a tiny model")
    path: str | None = Field(
        None,
        description="checkpoint folder (config.json, weights, tokenizer.json); unset builds a tiny model",
    )
    hidden_size: int = Field(32, ge=8, description="text model width (tiny models)")
    layers: int = Field(2, ge=1, description="text model layers (tiny models)")
    heads: int = Field(4, ge=1, description="text attention heads (tiny models)")
    vision_hidden_size: int = Field(32, ge=8, description="vision encoder width (tiny models)")
    vision_layers: int = Field(2, ge=1, description="vision encoder layers (tiny models)")
    patch_size: int = Field(8, ge=1, description="vision patch size (tiny models)")
    tile_size: int = Field(
        32, ge=8, description="side of one image tile = vision encoder input (tiny models)"
    )
    scale_factor: int = Field(2, ge=1, description="idefics3 pixel-shuffle factor (tiny and backbone models)")
    resampler_latents: int = Field(
        4, ge=1, description="idefics2 perceiver latents per image (tiny and backbone models; the paper: 64)"
    )
    resampler_depth: int = Field(1, ge=1, description="idefics2 perceiver layers (backbone models; paper: 3)")
    vocab_size: int = Field(512, ge=64, description="size of the locally trained BPE tokenizer (tiny models)")
    tokenizer_samples: int = Field(500, ge=1, description="samples whose texts train the tiny tokenizer")
    attn_implementation: str = Field("sdpa", description="eager | sdpa | flash_attention_2")
    vision: str | None = Field(
        None,
        description="a vision encoder folder (SigLIP-style, config.json + weights): with "
        "`text`, builds `arch` from the two backbones and a new connector",
    )
    text: str | None = Field(
        None,
        description="a causal LM folder (Llama/Mistral-style, with its tokenizer.json); its "
        "tokenizer gains the image tokens",
    )
    image_size: int | None = Field(
        None,
        ge=8,
        description="the vision encoder's input side when built from backbones, its position "
        "embeddings interpolated (Idefics3: 364 from SigLIP's 384); unset: the encoder's own",
    )

    @model_validator(mode="after")
    def _backbones(self) -> ModelConfig:
        if (self.vision is None) != (self.text is None):
            raise ValueError("model.vision and model.text go together: give both backbone folders")
        if self.vision is not None and self.path is not None:
            raise ValueError("model.path loads a whole model; model.vision + model.text build one: not both")
        return self


class LoraOptions(StrictModel):
    enabled: bool = Field(False, description="LoRA on the backbones; the connector is trained in full")
    dora: bool = Field(False, description="DoRA (weight-decomposed LoRA) instead of plain LoRA")
    r: int = Field(8, ge=1, description="LoRA rank")
    alpha: int = Field(16, ge=1, description="LoRA alpha")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout")


class DataOptions(StrictModel):
    max_length: int = Field(512, ge=16, description="tokens per packed row")
    max_image_size: int = Field(
        96,
        ge=8,
        description="longest image side: before splitting into tiles (idefics3), the native "
        "size's upper bound (idefics2)",
    )
    min_image_size: int = Field(0, ge=0, description="shortest image side (idefics2's native size; 0: none)")
    image_splitting: bool | Probability = Field(
        True,
        description="tiles + a global image (idefics3) or the 4-crop split (idefics2); true, "
        "false or the share of images split, drawn per image",
    )
    random_resolution: tuple[int, int] | None = Field(
        None, description="[min, max]: the longest image side drawn per image, in place of max_image_size"
    )
    shuffle_turns: bool = Field(False, description="shuffle the turns of multi-turn qa samples")
    packing: bool = Field(True, description="pack several samples per row, attention kept within samples")
    shuffle_buffer: int = Field(64, ge=1, description="samples in the seeded shuffle buffer (1: no shuffle)")
    resampled: bool | None = Field(
        None, description="draw shards with replacement (mixtures); default: on when several datasets"
    )
    heldout_fraction: float = Field(0.0, ge=0, lt=1, description="share of sample keys held out (by hash)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")


Part = Literal["vision", "connector", "text"]


class StageConfig(StrictModel):
    """One stage of a multi-stage run: what it sets replaces the top level's for this stage
    (``data``: only the keys given here); unset keys keep the top level's. Each stage after the
    first starts from the weights the previous one ended with (``<checkpoint_dir>/<NN>-<name>/final``)."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="stage name (checkpoints, log.jsonl)")
    steps: int = Field(..., ge=1, description="optimizer steps of this stage")
    datasets: list[DatasetSpec] | None = Field(None, min_length=1, description="this stage's mixture")
    data: DataOptions | None = Field(None, description="data keys this stage changes (image sizes, lengths)")
    freeze: list[Part] | None = Field(None, description="parts that do not train in this stage")
    lora: LoraOptions | None = Field(None, description="LoRA / DoRA of this stage")
    lr_connector: float | None = Field(None, gt=0)
    lr_backbone: float | None = Field(None, gt=0)
    warmup_steps: int | None = Field(None, ge=0)
    min_lr_ratio: float | None = Field(None, ge=0, le=1)
    batch_size: int | None = Field(None, ge=1)
    grad_accum: int | None = Field(None, ge=1)
    neftune_alpha: float | None = Field(None, ge=0)


class TrainConfig(StrictModel):
    """Everything ``vlmdata train`` reads."""

    datasets: list[DatasetSpec] = Field(..., min_length=1, description="shard datasets and their weights")
    model: ModelConfig = ModelConfig()
    lora: LoraOptions = LoraOptions()
    data: DataOptions = DataOptions()
    neftune_alpha: float = Field(0.0, ge=0, description="NEFTune noise on input embeddings (0: off)")
    lr_connector: float = Field(1e-3, gt=0, description="peak learning rate of the connector")
    lr_backbone: float = Field(1e-3, gt=0, description="peak learning rate of the vision and text models")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay (matrices only)")
    warmup_steps: int = Field(10, ge=0, description="linear warm-up steps")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine decays to this share of the peak")
    steps: int = Field(100, ge=1, description="optimizer steps")
    batch_size: int = Field(2, ge=1, description="packed rows per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm (0: no clipping)")
    precision: Literal["fp32", "bf16"] = Field("bf16", description="bf16 autocast on GPU; CPU runs fp32")
    checkpoint_dir: str = Field("out/train", description="checkpoints, the tokenizer and log.jsonl go here")
    checkpoint_every: int = Field(50, ge=1, description="save a checkpoint every this many steps")
    resume: bool = Field(True, description="continue from the latest checkpoint in checkpoint_dir")
    log_every: int = Field(10, ge=1, description="log loss, tokens/s and data wait every this many steps")
    eval_every: int = Field(0, ge=0, description="held-out loss every this many steps (0: never)")
    eval_batches: int = Field(8, ge=1, description="batches of the held-out split per evaluation")
    threads: int = Field(
        0, ge=0, description="CPU threads torch may use (0: its default; 1 suits tiny models)"
    )
    seed: int = Field(0, description="seed of weights, data order and noise")
    freeze: list[Part] = Field(
        default_factory=list, description="parts that do not train: vision, connector, text"
    )
    stages: list[StageConfig] = Field(
        default_factory=list,
        description="a multi-stage run (training.stages): each stage's steps, mixture, data keys, "
        "learning rates, freeze and LoRA; unset: one stage of `steps` steps",
    )

    def dataset_settings(self, spec: DatasetSpec) -> dict:
        """The settings of one dataset: its own where set, else the ``data`` section's."""
        keys = ("max_length", "max_image_size", "min_image_size", "image_splitting", "random_resolution",
                "shuffle_turns")  # fmt: skip
        settings = {k: getattr(self.data, k) if getattr(spec, k) is None else getattr(spec, k) for k in keys}
        return settings | {"caption": spec.caption}

    @model_validator(mode="after")
    def _lora_needs_enabled(self) -> TrainConfig:
        if self.lora.dora and not self.lora.enabled:
            raise ValueError("lora.dora=true needs lora.enabled=true")
        for i, spec in enumerate(self.datasets):
            if spec.max_length and spec.max_length > self.data.max_length:
                raise ValueError(
                    f"datasets[{i}].max_length {spec.max_length} is above data.max_length "
                    f"{self.data.max_length}, the packed row's length"
                )
        if self.stages:
            names = [stage.name for stage in self.stages]
            if len(set(names)) != len(names):
                raise ValueError(f"stages: names must differ, got {names}")
            if "steps" in self.model_fields_set and self.steps != sum(st.steps for st in self.stages):
                raise ValueError(
                    f"steps={self.steps} but the stages add up to {sum(st.steps for st in self.stages)}; "
                    "leave steps unset with stages"
                )
        if self.eval_every and not self.data.heldout_fraction:
            raise ValueError("eval_every needs data.heldout_fraction > 0 (the held-out split)")
        return self
