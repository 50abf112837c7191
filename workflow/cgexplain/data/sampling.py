"""Which frames a stage uses: the train/validation split and evenly spaced selections (the one sampler)."""

from __future__ import annotations

import numpy as np


def split_indices(n_frames: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of the frames (both non-empty)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"cg.val_fraction must lie in (0, 1), got {val_fraction}")
    if n_frames < 2:
        raise ValueError(f"need at least 2 frames to split, got {n_frames}")
    perm = np.random.default_rng(seed).permutation(n_frames)
    n_val = min(max(1, int(round(val_fraction * n_frames))), n_frames - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
