"""Aggregation of walk relevances into 1-, 2- and 3-body contributions of one frame.

The n-body relevance of a node set S (|S| = n) is the sum of the relevances of all walks whose set
of visited nodes is exactly S (Bonneau et al. 2025, "Postprocessing the Relevance"). Frames are
normalised by ``norm = |Σ_walks R| / n_walks``; figures show relevance / norm. Per-bead totals share each
walk's relevance equally among its distinct beads (:func:`bead_totals`).
"""

from __future__ import annotations

import numpy as np

from ..core import geometry


def node_sets(walks: np.ndarray):
    """Sorted distinct nodes of each walk, padded with -1: (W, L+1), and the order n (W,)."""
    s = np.sort(walks, axis=1)
    new = np.ones_like(s, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    order = new.sum(1)
    # move the distinct values to the front
    key = np.where(new, 0, 1)
    idx = np.argsort(key, axis=1, kind="stable")
    d = np.take_along_axis(s, idx, axis=1)
    d = np.where(np.arange(s.shape[1])[None, :] < order[:, None], d, -1)
    return d, order


def _group_sum(keys: np.ndarray, values: np.ndarray):
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    return uniq, np.bincount(inv.reshape(-1), weights=values, minlength=len(uniq))


def bead_totals(sets: np.ndarray, order: np.ndarray, rel: np.ndarray, n_nodes: int) -> np.ndarray:
    """Per-bead relevance (N,): each walk's relevance shared equally by the distinct beads it visits, so
    the beads' totals add up to the sum over all walks."""
    valid = sets >= 0
    share = np.broadcast_to((rel / order)[:, None], sets.shape)
    return np.bincount(sets[valid], weights=share[valid], minlength=n_nodes)


def aggregate_frame(walks: np.ndarray, rel: np.ndarray, pos: np.ndarray, box, n_nodes: int) -> dict:
    """Per-frame aggregates (NumPy arrays); see :mod:`cgexplain.relevance.run` for the file format."""
    walks = np.asarray(walks, dtype=np.int64)
    rel = np.asarray(rel, dtype=np.float64)
    pos = np.asarray(pos, dtype=np.float64)
    box = None if box is None else np.asarray(box, dtype=np.float64)
    sets, order = node_sets(walks)
    L1 = walks.shape[1]
    total = float(rel.sum())
    n_walks = len(walks)
    norm = abs(total) / n_walks if n_walks else 0.0
    order_totals = np.array([rel[order == k].sum() for k in range(1, L1 + 1)])
    r1 = np.bincount(sets[order == 1, 0], weights=rel[order == 1], minlength=n_nodes)
    bead_total = bead_totals(sets, order, rel, n_nodes)
    m2 = order == 2
    pairs, r2 = _group_sum(sets[m2, :2], rel[m2]) if m2.any() else (np.zeros((0, 2), np.int64),
                                                                       np.zeros(0))
    d2 = geometry.pair_distance(pos, box, pairs[:, 0], pairs[:, 1]) if len(pairs) else np.zeros(0)
    wd2 = (geometry.pair_distance(pos, box, sets[m2, 0], sets[m2, 1]) if m2.any() else np.zeros(0))
    m3 = order == 3
    trips, r3 = _group_sum(sets[m3, :3], rel[m3]) if m3.any() else (np.zeros((0, 3), np.int64),
                                                                      np.zeros(0))
    tg = geometry.triangle_geometry(pos, box, trips)
    return {
        "total": total, "n_walks": n_walks, "norm": norm, "order_totals": order_totals, "r1": r1,
        "bead_total": bead_total,
        "pair_i": pairs[:, 0], "pair_j": pairs[:, 1], "pair_r": r2, "pair_dist": d2,
        "walk2_r": rel[m2], "walk2_dist": wd2,
        "trip_i": trips[:, 0], "trip_j": trips[:, 1], "trip_k": trips[:, 2], "trip_r": r3,
        "trip_theta": tg["theta"], "trip_L": tg["L"], "trip_a": tg["a"], "trip_b": tg["b"],
    }
