"""Set-up shared by the long-running, resumable stages, and atomic file writes (npz; model and prior payloads)."""

from __future__ import annotations

from pathlib import Path


def save_npz(path: str | Path, **arrays) -> Path:
    """``np.savez`` atomically (``<name>.tmp.npz``, then renamed): a half-written file never carries the
    final name. Creates the folder."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def save_payload(path: str | Path, payload: dict) -> None:
    """``torch.save`` atomically: a half-written file never carries the final name."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def read_payload(path: str | Path, fmt: str, what: str) -> dict:
    """A dict written by :func:`save_payload` whose ``format`` is ``fmt``; errors name the file."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not a {fmt} {what}")
    return payload


def prepare_stage(out: Path, threads: int | None, device: str) -> tuple[Path, Path, "torch.device"]:
    """Create ``<out dir>/work`` and return (work dir, checkpoint path, torch device).

    Also sets torch's CPU thread count to the rule's ``threads`` when given.
    """
    import torch

    from .models import pick_device

    work = Path(out).parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(int(threads))
    return work, work / "checkpoint.pt", pick_device(device)
