"""Means of values in bins of one or two coordinates (relevance and decomposition curves, heat maps)."""

from __future__ import annotations

import numpy as np


def binned_mean(x, y, edges) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation and count of ``y`` in the bins ``edges`` of ``x`` (NaN in empty bins)."""
    x, y = np.asarray(x), np.asarray(y)
    idx = np.digitize(x, edges) - 1
    ok = (idx >= 0) & (idx < len(edges) - 1)
    n = np.bincount(idx[ok], minlength=len(edges) - 1).astype(float)
    s = np.bincount(idx[ok], weights=y[ok], minlength=len(edges) - 1)
    s2 = np.bincount(idx[ok], weights=y[ok] ** 2, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        std = np.where(n > 0, np.sqrt(np.maximum(s2 / np.maximum(n, 1) - mean ** 2, 0)), np.nan)
    return mean, std, n


def binned_mean_2d(x, y, v, xe, ye) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``v`` and count in the (``xe``, ``ye``) bins of (x, y) (NaN in empty bins)."""
    n, _, _ = np.histogram2d(x, y, bins=[xe, ye])
    s, _, _ = np.histogram2d(x, y, bins=[xe, ye], weights=v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / n, np.nan), n
