"""Set-up shared by the long-running, resumable stages (training, CG simulation)."""

from __future__ import annotations

from pathlib import Path

import torch

from .models import pick_device


def prepare_stage(out: Path, threads: int | None, device: str) -> tuple[Path, Path, torch.device]:
    """Create ``<out dir>/work`` and return (work dir, checkpoint path, torch device).

    Also sets torch's CPU thread count to the rule's ``threads`` when given.
    """
    work = Path(out).parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(int(threads))
    return work, work / "checkpoint.pt", pick_device(device)
