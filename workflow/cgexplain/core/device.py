"""The compute device of a stage: ``auto``, ``cpu`` or ``cuda`` resolved to a torch device."""

from __future__ import annotations

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """'auto' → CUDA when usable, else CPU; 'cpu'/'cuda' force the choice."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    return torch.device(requested)
