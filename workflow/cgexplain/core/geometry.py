"""Periodic geometry shared by analysis, relevance aggregation and the baselines (NumPy, Å, degrees).

Boxes are orthorhombic: ``box`` is a length-3 array (or None for open boundaries).
"""

from __future__ import annotations

import numpy as np


def minimum_image(d: np.ndarray, box) -> np.ndarray:
    """Shift displacement vectors ``d`` (..., 3) to their minimum image in ``box``."""
    if box is None:
        return d
    box = np.asarray(box, dtype=d.dtype)
    return d - box * np.round(d / box)


def distance_matrix(pos: np.ndarray, box) -> np.ndarray:
    """(N, N) minimum-image distances of one configuration ``pos`` (N, 3)."""
    d = minimum_image(pos[None, :, :] - pos[:, None, :], box)
    return np.sqrt((d * d).sum(-1))


def pair_distance(pos: np.ndarray, box, i, j) -> np.ndarray:
    """Minimum-image distance |r_j - r_i| for index arrays ``i`` and ``j``."""
    d = minimum_image(pos[np.asarray(j)] - pos[np.asarray(i)], box)
    return np.sqrt((d * d).sum(-1))


def triangle_geometry(pos: np.ndarray, box, triplets: np.ndarray) -> dict[str, np.ndarray]:
    """Shape of each triangle {i, j, k} (T, 3) under minimum image.

    The triangle is built from the vertex opposite the longest edge (the apex) with both other
    vertices taken at their minimum image from the apex. Returns ``theta`` (largest angle, degrees,
    at the apex), ``L`` (the opposite, longest edge), and ``a`` <= ``b`` (the two adjacent edges).
    """
    triplets = np.asarray(triplets, dtype=np.int64).reshape(-1, 3)
    if len(triplets) == 0:
        z = np.zeros(0)
        return {"theta": z, "L": z.copy(), "a": z.copy(), "b": z.copy()}
    p = pos[triplets]  # (T, 3, 3)
    best = None
    for apex in range(3):
        o1, o2 = [(apex + 1) % 3, (apex + 2) % 3]
        u = minimum_image(p[:, o1] - p[:, apex], box)
        v = minimum_image(p[:, o2] - p[:, apex], box)
        nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
        cos = np.clip((u * v).sum(-1) / (nu * nv), -1.0, 1.0)
        theta = np.degrees(np.arccos(cos))
        L = np.linalg.norm(v - u, axis=-1)
        cand = np.stack([theta, L, np.minimum(nu, nv), np.maximum(nu, nv)], axis=-1)
        best = cand if best is None else np.where((cand[:, :1] > best[:, :1]), cand, best)
    return {"theta": best[:, 0], "L": best[:, 1], "a": best[:, 2], "b": best[:, 3]}


def connected_triplets(pos: np.ndarray, box, cutoff: float) -> np.ndarray:
    """Sorted triplets {i < j < k} in which at least two of the three pairs are within ``cutoff``.

    These are exactly the node sets a 3-body walk of a message-passing network with this cutoff can
    visit (a walk needs a connected path through the three beads).
    """
    dm = distance_matrix(pos, box)
    adj = dm < cutoff
    np.fill_diagonal(adj, False)
    out = []
    n = len(pos)
    for c in range(n):  # c is the centre: both others are neighbours of c
        nb = np.flatnonzero(adj[c])
        if len(nb) < 2:
            continue
        a, b = np.triu_indices(len(nb), k=1)
        tri = np.sort(np.stack([np.full(len(a), c), nb[a], nb[b]], axis=1), axis=1)
        out.append(tri)
    if not out:
        return np.zeros((0, 3), dtype=np.int64)
    return np.unique(np.concatenate(out), axis=0)
