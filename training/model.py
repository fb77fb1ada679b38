"""The model: transformers' Idefics2 / Idefics3, tiny from a config or a checkpoint from a path,
with optional LoRA/DoRA on the backbones and NEFTune noise on the input embeddings.

Idefics2 ("What matters when building vision-language models?", arXiv 2405.02246): SigLIP-style
vision encoder -> perceiver resampler (a fixed number of visual tokens) -> Mistral-style LM.
Idefics3 (arXiv 2408.12637): the same encoder -> pixel shuffle + linear connector -> Llama-style LM.
The paper's stable recipe for LoRA: adapters on both backbones, the connector trained in full.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import (
    AutoConfig,
    Idefics2Config,
    Idefics2ForConditionalGeneration,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
)

from training.config import LoraOptions, ModelConfig
from training.tokenizer import IMAGE, SpecialIds

CLASSES = {"idefics2": Idefics2ForConditionalGeneration, "idefics3": Idefics3ForConditionalGeneration}
# linear layers of the two backbones (attention and MLP); the connector's names all contain "connector"
BACKBONE_LINEARS = r".*(text_model|vision_model)\..*\.(q_proj|k_proj|v_proj|o_proj|out_proj|gate_proj|up_proj|down_proj|fc1|fc2)"


def tiny_config(cfg: ModelConfig, vocab_size: int, ids: SpecialIds) -> Idefics2Config | Idefics3Config:
    """A small random model of either family (hidden size 32, 2 layers by default)."""
    head_dim = cfg.hidden_size // cfg.heads
    text = dict(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.hidden_size * 4,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        head_dim=head_dim,
        max_position_embeddings=4096,
        pad_token_id=ids.pad,
        bos_token_id=ids.bos,
        eos_token_id=ids.eos,
        tie_word_embeddings=False,
    )
    vision = dict(
        hidden_size=cfg.vision_hidden_size,
        intermediate_size=cfg.vision_hidden_size * 4,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=max(1, cfg.vision_hidden_size // 16),
        image_size=cfg.tile_size,
        patch_size=cfg.patch_size,
    )
    if cfg.arch == "idefics2":
        text["model_type"] = "mistral"
        text["sliding_window"] = None
        perceiver = dict(
            hidden_size=cfg.hidden_size,
            resampler_n_latents=cfg.resampler_latents,
            resampler_depth=1,
            resampler_n_heads=cfg.heads,
            resampler_head_dim=head_dim,
            num_key_value_heads=cfg.heads,
        )
        config = Idefics2Config(
            text_config=text, vision_config=vision, perceiver_config=perceiver, image_token_id=ids.image
        )
    else:
        text["model_type"] = "llama"
        config = Idefics3Config(
            text_config=text, vision_config=vision, scale_factor=cfg.scale_factor, image_token_id=ids.image
        )
    config.tie_word_embeddings = False
    return config


def resize_positions(table: torch.Tensor, side: int) -> torch.Tensor:
    """A square grid of position embeddings [n*n, D] resized to [side*side, D] (bicubic), as
    Idefics3 resized SigLIP's 27 x 27 grid (384 px) to 26 x 26 (364 px)."""
    old = round(table.shape[0] ** 0.5)
    if old * old != table.shape[0]:
        raise ValueError(f"position embeddings of {table.shape[0]} rows are not a square grid")
    grid = table.T.reshape(1, table.shape[1], old, old).float()
    resized = nn.functional.interpolate(grid, size=(side, side), mode="bicubic", align_corners=False)
    return resized.reshape(table.shape[1], side * side).T.to(table.dtype).contiguous()


def from_backbones(cfg: ModelConfig, vocab_size: int, ids: SpecialIds, seed: int = 0) -> nn.Module:
    """``cfg.arch`` built from a vision encoder (``cfg.vision``: a SigLIP vision model or a whole
    SigLIP, whose vision tower is taken) and a causal LM (``cfg.text``), as both papers start:
    their weights copied in (the SigLIP pooling head is not used), a freshly initialised connector
    (Idefics3's pixel shuffle + linear by ``scale_factor``; Idefics2's MLP + perceiver resampler of
    ``resampler_latents``), and the LM's embeddings and head grown to ``vocab_size`` for the image
    tokens its tokenizer gained (``training.tokenizer.extend``)."""
    from transformers import AutoModel, AutoModelForCausalLM

    torch.manual_seed(seed)
    vision = AutoModel.from_pretrained(cfg.vision)
    vision = getattr(vision, "vision_model", vision)  # SiglipModel -> its vision tower
    if vision.config.model_type not in ("siglip_vision_model", "idefics3_vision", "idefics2_vision"):
        raise ValueError(
            f"{cfg.vision}: model_type {vision.config.model_type!r}; expected a SigLIP vision model"
        )
    text = AutoModelForCausalLM.from_pretrained(cfg.text)
    text_config = text.config.to_dict()
    vision_config = vision.config.to_dict()
    weights = {k: v for k, v in vision.state_dict().items() if not k.startswith("head.")}
    if cfg.image_size and cfg.image_size != vision.config.image_size:
        vision_config["image_size"] = cfg.image_size
        key = "embeddings.position_embedding.weight"
        weights[key] = resize_positions(weights[key], cfg.image_size // vision.config.patch_size)
    if cfg.arch == "idefics2":
        heads = text.config.num_attention_heads
        perceiver = dict(
            hidden_size=text.config.hidden_size,
            resampler_n_latents=cfg.resampler_latents,
            resampler_depth=cfg.resampler_depth,
            resampler_n_heads=heads,
            resampler_head_dim=text.config.hidden_size // heads,
            num_key_value_heads=getattr(text.config, "num_key_value_heads", heads),
        )
        config = Idefics2Config(
            text_config=text_config,
            vision_config=vision_config,
            perceiver_config=perceiver,
            image_token_id=ids.image,
        )
    else:
        config = Idefics3Config(
            text_config=text_config,
            vision_config=vision_config,
            scale_factor=cfg.scale_factor,
            image_token_id=ids.image,
        )
    config.tie_word_embeddings = False
    config._attn_implementation = cfg.attn_implementation
    model = CLASSES[cfg.arch](config)
    missing, unexpected = model.model.vision_model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{cfg.vision}: vision weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.model.text_model.load_state_dict(text.get_decoder().state_dict())
    model.lm_head.weight.data.copy_(text.get_output_embeddings().weight.data)
    if vocab_size != text.config.vocab_size:
        model.resize_token_embeddings(vocab_size)
    return model


def build_model(cfg: ModelConfig, vocab_size: int, ids: SpecialIds, seed: int = 0) -> nn.Module:
    """A tiny random model, the checkpoint at ``cfg.path`` (its family read from config.json), or
    one built from two backbones (``cfg.vision`` + ``cfg.text``)."""
    if cfg.vision:
        return from_backbones(cfg, vocab_size, ids, seed)
    if cfg.path:
        config = AutoConfig.from_pretrained(cfg.path)
        if config.model_type not in CLASSES:
            raise ValueError(f"{cfg.path}: model_type {config.model_type!r}; expected idefics2 or idefics3")
        if config.image_token_id != ids.image:
            raise ValueError(
                f"{cfg.path}: image_token_id {config.image_token_id} is not the tokenizer's {IMAGE}"
            )
        return CLASSES[config.model_type].from_pretrained(
            cfg.path, attn_implementation=cfg.attn_implementation
        )
    torch.manual_seed(seed)
    config = tiny_config(cfg, vocab_size, ids)
    config._attn_implementation = cfg.attn_implementation
    return CLASSES[cfg.arch](config)


def is_connector(name: str) -> bool:
    return ".connector." in f".{name}"


def part_of(name: str) -> str:
    """Which part a parameter belongs to: ``vision``, ``connector`` or ``text`` (the language
    model with its embeddings and head)."""
    if is_connector(name):
        return "connector"
    return "vision" if "vision_model." in name else "text"


def freeze(model: nn.Module, parts: list[str] | tuple[str, ...]) -> None:
    """Parameters of the named parts stop training (``requires_grad`` off)."""
    for name, param in model.named_parameters():
        if part_of(name) in parts:
            param.requires_grad_(False)


def apply_lora(model: nn.Module, options: LoraOptions, frozen: list[str] | tuple[str, ...] = ()) -> nn.Module:
    """LoRA (or DoRA) adapters on every linear layer of the backbones that are not ``frozen``;
    the backbones' own weights frozen, the connector trained in full unless frozen."""
    from peft import LoraConfig, get_peft_model

    backbones = [b for b, name in (("vision", "vision_model"), ("text", "text_model")) if b not in frozen]
    if not backbones:
        raise ValueError("lora.enabled with both backbones frozen: no layer to adapt")
    targets = BACKBONE_LINEARS.replace("text_model|vision_model", "|".join(
        {"vision": "vision_model", "text": "text_model"}[b] for b in backbones))  # fmt: skip
    config = LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        use_dora=options.dora,
        target_modules=targets,
    )
    model = get_peft_model(model, config)
    for name, param in model.named_parameters():
        if is_connector(name) and "connector" not in frozen:
            param.requires_grad_(True)
    return model


def add_neftune(model: nn.Module, alpha: float) -> None:
    """NEFTune (Jain et al., arXiv 2310.05914): uniform noise of scale alpha / sqrt(L * d) on the
    input embeddings while training. Image placeholders are replaced by image features after
    the embedding, so only text embeddings are perturbed. L is the packed row length."""

    def hook(module: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
        if not module.training:
            return output
        scale = alpha / (output.size(1) * output.size(2)) ** 0.5  # [B, T, D]
        return output + torch.empty_like(output).uniform_(-scale, scale)

    model.get_input_embeddings().register_forward_hook(hook)
