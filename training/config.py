"""The training configuration: one YAML (``configs/train.yaml``) overridden by ``key=value``.

Like the job configs in ``schemas.config``, every section forbids unknown keys, so a typo fails
with its dotted path instead of silently training with a default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.config import StrictModel


class DatasetSpec(StrictModel):
    """One shard dataset in the mixture."""

    manifest: str = Field(..., description="path of OUT/<dataset>/manifest.json")
    weight: float = Field(1.0, gt=0, description="mixture weight (weights are normalised over datasets)")


class ModelConfig(StrictModel):
    """Tiny sizes build a random model from a config; ``path`` loads a checkpoint instead."""

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
    scale_factor: int = Field(2, ge=1, description="idefics3 pixel-shuffle factor (tiny models)")
    resampler_latents: int = Field(4, ge=1, description="idefics2 perceiver latents per image (tiny models)")
    vocab_size: int = Field(512, ge=64, description="size of the locally trained BPE tokenizer (tiny models)")
    tokenizer_samples: int = Field(500, ge=1, description="samples whose texts train the tiny tokenizer")
    attn_implementation: str = Field("sdpa", description="eager | sdpa | flash_attention_2")


class LoraOptions(StrictModel):
    enabled: bool = Field(False, description="LoRA on the backbones; the connector is trained in full")
    dora: bool = Field(False, description="DoRA (weight-decomposed LoRA) instead of plain LoRA")
    r: int = Field(8, ge=1, description="LoRA rank")
    alpha: int = Field(16, ge=1, description="LoRA alpha")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout")


class DataOptions(StrictModel):
    max_length: int = Field(512, ge=16, description="tokens per packed row")
    max_image_size: int = Field(96, ge=8, description="longest image side before splitting into tiles")
    image_splitting: bool = Field(True, description="tiles + a downscaled global image (Idefics3)")
    packing: bool = Field(True, description="pack several samples per row, attention kept within samples")
    shuffle_buffer: int = Field(64, ge=1, description="samples in the seeded shuffle buffer (1: no shuffle)")
    resampled: bool | None = Field(
        None, description="draw shards with replacement (mixtures); default: on when several datasets"
    )
    heldout_fraction: float = Field(0.0, ge=0, lt=1, description="share of sample keys held out (by hash)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")


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

    @model_validator(mode="after")
    def _lora_needs_enabled(self) -> TrainConfig:
        if self.lora.dora and not self.lora.enabled:
            raise ValueError("lora.dora=true needs lora.enabled=true")
        if self.eval_every and not self.data.heldout_fraction:
            raise ValueError("eval_every needs data.heldout_fraction > 0 (the held-out split)")
        return self
