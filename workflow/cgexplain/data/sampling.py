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


def evenly_spaced(n_total: int, n: int | None, seed: int | None = None) -> np.ndarray:
    """Indices (increasing) of ``n`` of ``n_total`` frames spread evenly over the trajectory; all of them
    when ``n`` is None, 0 or at least ``n_total``.

    Without a seed: the first frame, the last and ``n - 2`` evenly between (rounded). With a seed: one
    frame in each of ``n`` equal strata, at the same seeded offset in every stratum (so frames from
    different seeds interleave rather than repeat). Training, the observables, IMC, relevance, folding
    states and the many-body decomposition all pick their frames here.
    """
    n_total = int(n_total)
    if not n or n >= n_total:
        return np.arange(n_total)
    n = int(n)
    if seed is None:
        return np.linspace(0, n_total - 1, n).round().astype(int)
    stride = n_total / n
    off = np.random.default_rng(seed).uniform(0, stride)
    return np.minimum(np.floor(off + stride * np.arange(n)).astype(np.int64), n_total - 1)
