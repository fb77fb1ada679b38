"""The training loop: AdamW with warm-up and cosine decay, separate learning rates for the
connector and the backbones, gradient accumulation and clipping, bf16 autocast on GPU, DDP under
torchrun, periodic checkpoints with exact resume, and a log of loss, tokens/s and data wait."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from schemas.samples import sample_texts
from training import checkpoint
from training.config import TrainConfig
from training.data import StreamSpec, manifest_shards, read_shard
from training.loader import DataState, PackedBatches, make_loader
from training.model import add_neftune, apply_lora, build_model, freeze, is_connector
from training.processor import Processor, image_seq_len
from training.tokenizer import extend, load_tokenizer, special_ids, train_tokenizer

MODEL_INPUTS = ("input_ids", "labels", "position_ids", "pixel_values", "pixel_attention_mask")


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()


def setup_distributed() -> Dist:
    """One process per GPU under torchrun (``WORLD_SIZE`` > 1), else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend)
    device = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Dist(torch.distributed.get_rank(), world_size, device)


def tokenizer_for(cfg: TrainConfig, shards: list[list[str]], dist: Dist):
    """The checkpoint's tokenizer, or a tiny BPE trained on the datasets' texts and saved in
    ``checkpoint_dir`` (reused on resume, so ids never change under a run)."""
    if cfg.model.path:
        return load_tokenizer(cfg.model.path)
    path = Path(cfg.checkpoint_dir) / "tokenizer.json"
    if cfg.model.text:  # the LM's own, extended with the image tokens
        if dist.rank == 0 and not path.exists():
            extend(load_tokenizer(cfg.model.text)).save(str(path))
        dist.barrier()
        return load_tokenizer(path)
    if dist.rank == 0 and not path.exists():
        texts: list[str] = []
        per_dataset = max(1, cfg.model.tokenizer_samples // len(shards))
        for urls in shards:
            taken = 0
            for url in urls:
                for _, members in read_shard(url, _NoCount()):
                    try:
                        texts += sample_texts(json.loads(members["json"]))
                    except (KeyError, ValueError):
                        continue
                    taken += 1
                    if taken >= per_dataset:
                        break
                if taken >= per_dataset:
                    break
        train_tokenizer(texts, cfg.model.vocab_size, path)
    dist.barrier()
    return load_tokenizer(path)


def processors_for(cfg: TrainConfig, model_config, tokenizer, ids) -> list[Processor]:
    """One processor per dataset of the mixture, with that dataset's settings."""
    vision = model_config.vision_config
    out = []
    for spec in cfg.datasets:
        settings = cfg.dataset_settings(spec)
        out.append(
            Processor(
                tokenizer,
                ids,
                vision.image_size,
                image_seq_len(model_config),
                settings["max_image_size"],
                settings["max_length"],
                settings["image_splitting"],
                arch=model_config.model_type,
                patch_size=vision.patch_size,
                min_image_size=settings["min_image_size"],
                random_resolution=settings["random_resolution"],
                shuffle_turns=settings["shuffle_turns"],
                caption=settings["caption"],
                seed=cfg.seed,
            )  # fmt: skip
        )
    return out


class _NoCount(dict):
    def __missing__(self, key):
        return 0


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Connector and backbones at their own learning rates; weight decay on matrices only."""
    groups: dict[tuple[str, bool], list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault(
                ("connector" if is_connector(name) else "backbone", param.ndim >= 2), []
            ).append(param)
    lrs = {"connector": cfg.lr_connector, "backbone": cfg.lr_backbone}
    return [
        {"params": params, "lr": lrs[part], "weight_decay": cfg.weight_decay if decay else 0.0, "name": part}
        for (part, decay), params in sorted(groups.items())
    ]


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to the peak, then cosine decay to ``min_lr_ratio`` of it at ``steps``."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class Trainer:
    """Everything a run holds; ``run()`` trains up to ``cfg.steps`` (or ``stop_at``)."""

    def __init__(
        self,
        cfg: TrainConfig,
        dist: Dist | None = None,
        stage: str | None = None,
        log_path: Path | None = None,
    ):
        """``stage``: the name of the stage this run is (in checkpoints and log records);
        ``log_path``: where log records go (default ``checkpoint_dir/log.jsonl``)."""
        self.cfg, self.dist = cfg, dist or setup_distributed()
        self.stage = stage
        self.log_path = log_path or Path(cfg.checkpoint_dir) / "log.jsonl"
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        shards = [manifest_shards(d.manifest) for d in cfg.datasets]
        Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        self.tokenizer = tokenizer_for(cfg, shards, self.dist)
        self.ids = special_ids(self.tokenizer)
        model = build_model(cfg.model, self.tokenizer.get_vocab_size(), self.ids, cfg.seed)
        model.config.use_cache = False  # a cache would turn off packed-sequence masking
        self.processors = processors_for(cfg, model.config, self.tokenizer, self.ids)
        self.processor = self.processors[0]
        freeze(model, cfg.freeze)
        if cfg.lora.enabled:
            model = apply_lora(model, cfg.lora, cfg.freeze)
        if not any(param.requires_grad for param in model.parameters()):
            raise ValueError(f"freeze={cfg.freeze}: nothing left to train")
        if cfg.neftune_alpha > 0:
            add_neftune(model, cfg.neftune_alpha)
        self.model = model.to(self.dist.device)
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg), betas=(0.9, 0.95), eps=1e-8)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, cfg))
        self.step = 0
        self.data_state = DataState()
        self.spec = StreamSpec(
            shards=shards,
            weights=[d.weight for d in cfg.datasets],
            seed=cfg.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            resampled=len(shards) > 1 if cfg.data.resampled is None else cfg.data.resampled,
            shuffle_buffer=cfg.data.shuffle_buffer,
            heldout_fraction=cfg.data.heldout_fraction,
        )
        if cfg.resume and (found := checkpoint.latest(cfg.checkpoint_dir)):
            self.load(found)
        self.ddp = self.model
        if self.dist.world_size > 1:
            self.ddp = nn.parallel.DistributedDataParallel(self.model, find_unused_parameters=True)

    # -- checkpoints ---------------------------------------------------------------------------
    def save(self) -> Path:
        trainer = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "stage": self.stage,
            "config": self.cfg.model_dump(mode="json"),
        }
        rank_state = {"rng": checkpoint.rng_state(), "data": self.data_state.to_dict()}
        return checkpoint.save(
            self.cfg.checkpoint_dir, self.step, trainer if self.dist.rank == 0 else None, rank_state,
            self.dist.rank, self.dist.barrier,
        )  # fmt: skip

    def load(self, folder: Path) -> None:
        trainer, rank_state = checkpoint.load(folder, self.dist.rank)
        self.model.load_state_dict(trainer["model"])
        self.optimizer.load_state_dict(trainer["optimizer"])
        self.scheduler.load_state_dict(trainer["scheduler"])
        self.step = trainer["step"]
        checkpoint.set_rng_state(rank_state["rng"])
        self.data_state = DataState.from_dict(rank_state["data"])

    # -- training ------------------------------------------------------------------------------
    def batches(self, split: str = "train") -> Iterator[dict]:
        if split == "train":
            spec, state = self.spec, self.data_state
        else:  # the held-out split, from its start every time
            spec, state = replace(self.spec, split=split, resampled=False), DataState()
        dataset = PackedBatches(
            spec, self.processors, self.cfg.batch_size, self.cfg.data.packing, state, self.cfg.data.max_length
        )
        return iter(make_loader(dataset, self.cfg.data.num_workers, self.cfg.seed))

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over ``eval_batches`` batches of the held-out split (sample keys by hash)."""
        self.model.eval()
        rng = checkpoint.rng_state()  # evaluation must not move the training RNG
        batches = self.batches("heldout")
        losses = [self.forward(next(batches)).item() for _ in range(self.cfg.eval_batches)]
        checkpoint.set_rng_state(rng)
        self.model.train()
        return sum(losses) / len(losses)

    def forward(self, batch: dict) -> torch.Tensor:
        inputs = {k: batch[k].to(self.dist.device, non_blocking=True) for k in MODEL_INPUTS if k in batch}
        bf16 = self.cfg.precision == "bf16" and self.dist.device.type == "cuda"
        with torch.autocast(self.dist.device.type, dtype=torch.bfloat16, enabled=bf16):
            return self.ddp(**inputs, use_cache=False).loss

    def run(self, stop_at: int | None = None, log=print) -> list[dict]:
        """Train from the current step; returns one record per optimizer step."""
        cfg, history = self.cfg, []
        self.model.train()
        batches = self.batches()
        window = {"tokens": 0, "samples": 0, "wait": 0.0, "start": time.perf_counter()}
        end = min(cfg.steps, stop_at or cfg.steps)
        while self.step < end:
            loss_sum = 0.0
            for _ in range(cfg.grad_accum):
                waited = time.perf_counter()
                batch = next(batches)
                window["wait"] += time.perf_counter() - waited
                self.data_state.update(batch)
                loss = self.forward(batch) / cfg.grad_accum
                loss.backward()
                loss_sum += loss.item()
                window["tokens"] += int(batch["tokens"])
                window["samples"] += int(batch["samples"])
            grad_norm = (
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip).item()
                if cfg.grad_clip > 0
                else float("nan")
            )
            lrs = {f"lr_{group['name']}": group["lr"] for group in self.optimizer.param_groups}
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            record = {"step": self.step, "loss": loss_sum, "grad_norm": grad_norm, **lrs}
            if self.stage is not None:
                record = {"stage": self.stage, **record}
            if cfg.eval_every and self.step % cfg.eval_every == 0:
                record["heldout_loss"] = self.evaluate()
            if self.step % cfg.log_every == 0 or self.step == end:
                record.update(self._throughput(window))
                window = {"tokens": 0, "samples": 0, "wait": 0.0, "start": time.perf_counter()}
                self._log(record, log)
            history.append(record)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
        return history

    def _throughput(self, window: dict) -> dict:
        elapsed = max(time.perf_counter() - window["start"], 1e-9)
        return {
            "tokens_s": window["tokens"] * self.dist.world_size / elapsed,
            "samples_s": window["samples"] * self.dist.world_size / elapsed,
            "data_wait_fraction": window["wait"] / elapsed,
            "skipped": self.data_state.skipped(),
        }

    def _log(self, record: dict, log) -> None:
        if self.dist.rank != 0:
            return
        line = json.dumps(record)
        with open(self.log_path, "a") as out:
            out.write(line + "\n")
        log(line)

    def export(self, folder: str | Path) -> Path:
        """A checkpoint folder ``model.path`` can load: weights (LoRA merged), config, tokenizer.
        Written under ``<folder>.partial`` and renamed when complete."""
        folder = Path(folder)
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if self.cfg.lora.enabled:
            self.model = self.model.merge_and_unload()
        self.model.save_pretrained(partial)
        self.tokenizer.save(str(partial / "tokenizer.json"))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
        return folder
