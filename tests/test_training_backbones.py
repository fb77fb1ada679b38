"""Models built from two backbones, as both papers start: a tiny random SigLIP-like vision encoder
and a tiny random Llama-like LM (its tokenizer built with ``tokenizers``) saved here, then
``model.vision`` + ``model.text`` give an Idefics2 or Idefics3 with their weights, a new connector
and the tokenizer extended with the image tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, SiglipVisionConfig, SiglipVisionModel  # noqa: E402

from tests.test_training_data import build_datasets  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.loop import Trainer  # noqa: E402
from training.tokenizer import IMAGE, SPECIAL_TOKENS, load_tokenizer  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog. A red square and a blue circle on a white page."


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, Path]:
    return build_datasets(tmp_path_factory.mktemp("train-backbones"), count=8)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("backbones")
    torch.manual_seed(0)
    vision = SiglipVisionModel(
        SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        )
    )
    vision.save_pretrained(root / "siglip")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        [TEXT] * 4,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|endoftext|>", "<|im_start|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    lm = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=tokenizer.get_vocab_size(),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            tie_word_embeddings=False,
        )
    )
    lm.save_pretrained(root / "llama")
    tokenizer.save(str(root / "llama" / "tokenizer.json"))
    return root / "siglip", root / "llama"


def config(manifests, backbones, folder: Path, arch: str, **model) -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "datasets": [{"manifest": str(manifests["pair"])}, {"manifest": str(manifests["qa"])}],
            "checkpoint_dir": str(folder),
            "steps": 2,
            "batch_size": 2,
            "warmup_steps": 1,
            "log_every": 1,
            "data": {"max_length": 256, "max_image_size": 32, "shuffle_buffer": 4},
            "model": {"arch": arch, "vision": str(backbones[0]), "text": str(backbones[1]), **model},
        }
    )


@pytest.mark.parametrize("arch", ["idefics3", "idefics2"])
def test_a_model_is_built_from_two_backbones(manifests, backbones, tmp_path, arch):
    vision = SiglipVisionModel.from_pretrained(backbones[0])
    lm = LlamaForCausalLM.from_pretrained(backbones[1])
    original = load_tokenizer(backbones[1])
    trainer = Trainer(config(manifests, backbones, tmp_path / "run", arch, resampler_latents=8))
    model = trainer.model

    # the tokenizer keeps its ids and gains the processor's tokens after them
    tokenizer = trainer.tokenizer
    assert tokenizer.encode(TEXT).ids == original.encode(TEXT).ids
    added = len(SPECIAL_TOKENS) - 3  # pad, eos and bos are not added
    assert tokenizer.get_vocab_size() == original.get_vocab_size() + added
    assert tokenizer.token_to_id(IMAGE) >= original.get_vocab_size()
    assert model.config.image_token_id == tokenizer.token_to_id(IMAGE)

    # the backbones' weights, as saved; the embeddings grown for the new tokens
    for name, value in vision.state_dict().items():
        if not name.startswith("head."):
            assert torch.equal(model.model.vision_model.state_dict()[name], value), name
    for name, value in lm.model.state_dict().items():
        mine = model.model.text_model.state_dict()[name]
        if name == "embed_tokens.weight":
            assert mine.shape[0] == tokenizer.get_vocab_size() and torch.equal(mine[: value.shape[0]], value)
        else:
            assert torch.equal(mine, value), name
    assert torch.equal(model.lm_head.weight[: lm.config.vocab_size], lm.lm_head.weight)
    assert sum(p.numel() for n, p in model.named_parameters() if ".connector." in f".{n}") > 0
    if arch == "idefics2":
        assert model.config.perceiver_config.resampler_n_latents == trainer.processor.seq_len == 8

    history = trainer.run(log=lambda _: None)
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in history)
    exported = trainer.export(tmp_path / "export")
    again = Trainer(
        TrainConfig.model_validate(
            {
                **config(manifests, backbones, tmp_path / "again", arch).model_dump(),
                "model": {"path": str(exported)},
            }
        )
    )
    assert again.tokenizer.get_vocab_size() == tokenizer.get_vocab_size()
    assert torch.equal(again.model.lm_head.weight, trainer.model.lm_head.weight)


def test_backbone_errors_are_clear(manifests, backbones, tmp_path):
    with pytest.raises(ValueError, match="model.vision and model.text go together"):
        TrainConfig.model_validate({"datasets": [{"manifest": "m"}], "model": {"vision": str(backbones[0])}})
    swapped = config(manifests, (backbones[1], backbones[1]), tmp_path / "bad", "idefics3")
    with pytest.raises(ValueError, match="expected a SigLIP vision model"):
        Trainer(swapped)


def test_the_encoder_input_size_can_change(manifests, backbones, tmp_path):
    """Idefics3 ran SigLIP at 364 px instead of 384: here 32 px (4 x 4 patches) becomes 24 (3 x 3),
    the position grid resized, the rest of the encoder's weights kept."""
    vision = SiglipVisionModel.from_pretrained(backbones[0])
    original = vision.state_dict()["embeddings.position_embedding.weight"]
    trainer = Trainer(
        config(manifests, backbones, tmp_path / "run", "idefics3", image_size=24, scale_factor=3)
    )
    model = trainer.model
    assert model.config.vision_config.image_size == 24 and trainer.processor.tile_size == 24
    table = model.model.vision_model.embeddings.position_embedding.weight
    assert table.shape == (9, 32) and not torch.equal(table[0], original[0])  # interpolated, not cut
    assert abs(table.mean() - original.mean()) < 0.05
    layer, source = model.model.vision_model.encoder.layers[0], vision.encoder.layers[0]
    assert torch.equal(layer.mlp.fc1.weight, source.mlp.fc1.weight)
    assert trainer.processor.seq_len == 1  # 3 x 3 patches, pixel shuffle by 3
    assert len(trainer.run(log=lambda _: None)) == 2
