"""Checkpoints with exact resume: model, optimiser, scheduler, RNG states and data position.

``CHECKPOINT_DIR/step-000050/`` holds ``trainer.pt`` (model, optimiser, scheduler, step; written by
rank 0) and ``rank<r>.pt`` per rank (that rank's RNG states and data position). A folder is
written under a temporary name and renamed once complete, so a run killed while saving resumes
from the previous checkpoint.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch

PREFIX = "step-"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest(checkpoint_dir: str | Path) -> Path | None:
    found = sorted(p for p in Path(checkpoint_dir).glob(f"{PREFIX}*") if p.is_dir() and p.name[5:].isdigit())
    return found[-1] if found else None


def save(
    checkpoint_dir: str | Path,
    step: int,
    trainer: dict | None,
    rank_state: dict,
    rank: int = 0,
    barrier=lambda: None,
    keep: int = 2,
) -> Path:
    """Write one checkpoint; ``trainer`` (model, optimiser, ...) only on rank 0."""
    final = Path(checkpoint_dir) / f"{PREFIX}{step:06d}"
    partial = final.with_name(final.name + ".partial")
    if rank == 0:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    barrier()
    torch.save(rank_state, partial / f"rank{rank}.pt")
    if rank == 0:
        torch.save(trainer, partial / "trainer.pt")
    barrier()
    if rank == 0:
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for old in sorted(Path(checkpoint_dir).glob(f"{PREFIX}*"))[:-keep]:
            if old.is_dir() and not old.name.endswith(".partial"):
                shutil.rmtree(old)
    barrier()
    return final


def load(folder: Path, rank: int = 0) -> tuple[dict, dict]:
    """(trainer state, this rank's state) of a checkpoint folder."""
    trainer = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=False)
    rank_file = folder / f"rank{rank}.pt"
    if not rank_file.exists():
        raise FileNotFoundError(
            f"{rank_file}: no state for rank {rank}; resume with the same number of ranks"
        )
    return trainer, torch.load(rank_file, map_location="cpu", weights_only=False)
