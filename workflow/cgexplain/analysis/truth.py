"""Relevance against the truth: GNN-LRP 2- and 3-body relevances of a ground-truth system compared with
the energies the system is known to have, pair by pair, triplet by triplet, bin by bin.

The ground-truth systems (:mod:`cgexplain.systems.ntl9_go`, :mod:`cgexplain.systems.mw_water`) split every
frame into exact per-pair and per-triplet energies (:func:`cgexplain.systems.groundtruth.decompose`). This
module takes a relevance file (format ``cgexplain-relevance/1``, :mod:`cgexplain.relevance.run`), the frames
it explained (its ``frame_index`` into the CG dataset or the flattened CG trajectory) and the system's model,
and compares the two. Units: relevance as in the file (``pair_r``, ``trip_r``: the walks' relevances add up
to the network energy, kcal/mol); energies kcal/mol; distances Å; angles degrees.

The truth of a system is its :meth:`cgexplain.systems.System.truth_model` (None: no known truth; the command
refuses it). A periodic system's file is compared per bin (:func:`fluid_truth`), any other pair by pair and
triplet by triplet (:func:`protein_truth`).

What is compared, exactly
-------------------------

The network of a delta-learned model learns ``U_net = U − U_prior``, so the truth it is held against is

* **2-body** ``E2_net(i, j) = E_true,nonbonded(i, j) − E_prior,pair(i, j)`` per frame, where
  ``E_true,nonbonded`` is the sum of the system's non-bonded 2-body terms of that pair (Gō: native contact,
  destabilising contact or non-native repulsion; mW: ``sw2``) and ``E_prior,pair`` the prior's own pair
  term (``protein_ca``: ``k_rep · relu(σ − r)³`` of the pairs ≥ 3 bonds apart; zero on the prior's training
  frames by construction, so in practice ≈ 0). No prior (the fluids): ``E_prior,pair = 0``.
* **Protein pairs**: only pairs that have a non-bonded term in the truth (Gō: ``|i − j| ≥ min_seq_sep``,
  i.e. 4) and that some walk visits in some explained frame. Pairs closer along the chain are excluded:
  there the truth is bonded (bond, angle, dihedral) and the prior takes most of it, so the residual the
  network learns there is the truth minus a fitted bonded prior, which no per-pair energy describes.
  Per pair: the mean over the file's F frames of the relevance (0 in a frame where no walk visits the pair,
  as in :func:`cgexplain.analysis.protein.pair_maps`) against the mean over the same frames of ``E2_net``.
* **Protein triplets**: the "non-local" triplets, all three pairs ``≥ min_seq_sep`` apart along the chain
  (bonded angles excluded: the prior's angle term takes them), visited by some walk or carrying a true
  3-body term; true energy the non-bonded 3-body term (Gō: the cooperativity triangles; 0 for every other
  triplet). The prior has no non-bonded 3-body part. Reported over all non-local triplets and, separately,
  over the triangles alone (few rows: read its n).
* **Fluid 2-body**: every (frame, pair) row, the relevance table's pairs and the truth's pairs joined (a pair
  missing on one side counts 0 there), binned by distance (``bins`` over [0, cutoff of the file]); per bin the
  mean relevance against the mean true pair energy of the same rows. Statistics over bins with at least
  ``min_count`` rows.
* **Fluid 3-body**: the same with triplets (true energy of a triplet: the 3-body terms of all its centres,
  :meth:`Decomposition.triplets`) in the (θ, L) bins of Figure 3 (θ the largest angle over [60°, 180°], L the
  opposite edge over [0, 2 × cutoff]; :func:`cgexplain.core.geometry.triangle_geometry`).
* **Mutations**: per pair, ``R_mut − R_WT`` (mean relevance per pair of the mutant's file minus the wild type's,
  the same frames) against ``ΔE_true = mean_f [E2_true,mut − E2_true,WT]`` (the model's ``mutate()``), over the
  protein pairs above visited in either file; also over the pairs of the mutated bead alone. The prior is held
  at the wild type's bead types, so its pair part cancels in the difference. Chosen: the prior re-typed for
  the mutant (``with_types``) takes the repulsion distances its fit found for the new type elsewhere in the
  chain; at the mutated bead's native contacts that term reaches 10³ kcal/mol (measured: 1,814–2,649 for
  ILE4ASN on Gō frames), an artefact of the prior's fit that neither the network nor the truth contains.

Statistics (:func:`compare`, pure): ``n``, Pearson and Spearman (average ranks for ties) correlation,
``sign_agreement`` (fraction of rows with ``|E| > sign_tol`` whose relevance has the sign of ``E``;
``sign_tol`` = 1e-3 kcal/mol by default, far below kT, so that the sign of a negligible energy does not
count), ``n_sign`` (the rows that count), and the least-squares ``slope`` and ``intercept`` of relevance on
energy (1 and 0 if the relevance were the energy). NaN where undefined (fewer than 2 rows, a constant side).

The planted pairs (the Gō model's destabilising native contacts, ε_ij < 0, e.g. VAL3–GLU38) are listed
with their mean relevance and true energy.

API::

    compare(r, e, sign_tol=1e-3) -> dict            # n, pearson, spearman, sign_agreement, n_sign, slope, intercept
    pearson(x, y), spearman(x, y), sign_agreement(r, e, tol), rankdata(x)
    truth_model(system, cfg, n_beads, box) -> model  # the system's System.truth_model (ntl9_go, mw_water)
    frame_truth(model, x, box=None, prior=None) -> (pairs, E2_net, triplets, E3)
    protein_truth(rel, coords, model, prior=None, mutants={}) -> dict of arrays
    fluid_truth(rel, coords, boxes, model, bins=75, angle_bins=50, edge_bins=50, min_count=1) -> dict
    oracle_relevance(model, coords, boxes=None, prior=None, cutoff=None) -> relevance dict (relevance = truth)
    write_csv(result, path)

Command::

    cgexplain truth --relevance rel.npz (--dataset d.npz | --trajectory t.npz) --system NAME
        [--params JSON] [--prior prior.pt] [--mutant ILE4ASN=rel_mut.npz ...] --out truth.npz --csv truth.csv
        [--bins 75] [--angle-bins 50] [--edge-bins 50] [--min-count 1] [--sign-tol 1e-3]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from ..core.errors import InputError

STAT_NAMES = ("n", "pearson", "spearman", "sign_agreement", "n_sign", "slope", "intercept")
SIGN_TOL = 1e-3  # kcal/mol
COMPARED = ("relevance (pair_r / trip_r, kcal/mol) vs U_net = U_true,nonbonded - U_prior,pair "
            "(per pair or triplet, mean over the explained frames; bonded terms excluded)")


# ------------------------------------------------------------------------------------------- statistics
def rankdata(x) -> np.ndarray:
    """Ranks 1..n of ``x``, ties sharing their average rank."""
    x = np.asarray(x, np.float64).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x))
    if not len(x):
        return ranks
    starts = np.r_[0, np.flatnonzero(np.diff(xs) != 0) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + e - 1) + 1.0
    return ranks


def pearson(x, y) -> float:
    """Pearson correlation of ``x`` and ``y`` (NaN with fewer than 2 values or a constant side)."""
    x, y = np.asarray(x, np.float64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"pearson: lengths {len(x)} and {len(y)} differ")
    if len(x) < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    sx, sy = np.sqrt((dx * dx).sum()), np.sqrt((dy * dy).sum())
    scale = max(np.abs(x).max(), np.abs(y).max(), 1e-300)
    if sx <= 1e-12 * scale * np.sqrt(len(x)) or sy <= 1e-12 * scale * np.sqrt(len(y)):
        return float("nan")
    return float(np.clip((dx * dy).sum() / (sx * sy), -1.0, 1.0))


def spearman(x, y) -> float:
    """Spearman rank correlation (Pearson of the average ranks)."""
    return pearson(rankdata(x), rankdata(y))


def sign_agreement(r, e, tol: float = SIGN_TOL) -> tuple[float, int]:
    """(fraction of rows with |e| > tol where sign(r) == sign(e), number of such rows); NaN if none."""
    r, e = np.asarray(r, np.float64).reshape(-1), np.asarray(e, np.float64).reshape(-1)
    m = np.abs(e) > tol
    n = int(m.sum())
    if n == 0:
        return float("nan"), 0
    return float((np.sign(r[m]) == np.sign(e[m])).mean()), n


def compare(r, e, sign_tol: float = SIGN_TOL) -> dict[str, float]:
    """The statistics of relevance ``r`` against true energy ``e`` (same rows): see the module docstring."""
    r, e = np.asarray(r, np.float64).reshape(-1), np.asarray(e, np.float64).reshape(-1)
    ok = np.isfinite(r) & np.isfinite(e)
    r, e = r[ok], e[ok]
    sa, ns = sign_agreement(r, e, sign_tol)
    slope = intercept = float("nan")
    if len(e) >= 2 and np.ptp(e) > 0:
        slope, intercept = (float(v) for v in np.polyfit(e, r, 1))
    return {"n": float(len(r)), "pearson": pearson(r, e), "spearman": spearman(r, e), "sign_agreement": sa,
            "n_sign": float(ns), "slope": slope, "intercept": intercept}


def stats_array(s: dict) -> np.ndarray:
    return np.array([s[k] for k in STAT_NAMES], np.float64)


# ------------------------------------------------------------------------------------------- the truth
def truth_model(system: str, cfg: dict | None = None, n_beads: int | None = None, box=None):
    """The ground-truth model of registered system ``system`` (e.g. ``ntl9_go``, ``mw_water``, or a dotted
    module path), from its :meth:`~cgexplain.systems.System.truth_model` with its config block ``cfg``
    (``n_beads`` and ``box`` those of the frames compared)."""
    from ..systems import get_system

    try:
        sysm = get_system(system)
    except KeyError as e:
        raise InputError(str(e).strip("'\"")) from None
    try:
        model = sysm.truth_model(dict(cfg or {}), n_beads, box)
    except (KeyError, ValueError) as e:
        raise InputError(f"ground truth of system {system!r}: {e}") from None
    if model is None:
        raise InputError(f"no ground truth for system {system!r} (its System.truth_model returns None)")
    return model


def prior_pair_energy(prior, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prior's non-bonded pair part per pair of frame ``x`` (N, 3): ((P, 2) sorted pairs, (P,) kcal/mol).

    ``protein_ca``: ``k_rep · relu(σ − r)³`` over its ``pair_idx``. No prior: nothing. A prior kind without a
    known pair part is refused (the comparison would silently be against the wrong U_net)."""
    if prior is None:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    if all(hasattr(prior, a) for a in ("pair_idx", "pair_sigma", "k_rep")):
        idx = np.asarray(prior.pair_idx.detach().cpu().numpy() if hasattr(prior.pair_idx, "detach")
                         else prior.pair_idx, np.int64).reshape(-1, 2)
        sig = np.asarray(prior.pair_sigma.detach().cpu().numpy() if hasattr(prior.pair_sigma, "detach")
                         else prior.pair_sigma, np.float64).reshape(-1)
        r = np.linalg.norm(x[idx[:, 1]] - x[idx[:, 0]], axis=-1)
        return np.sort(idx, axis=1), float(prior.k_rep) * np.maximum(sig - r, 0.0) ** 3
    raise InputError(f"prior kind {getattr(prior, 'kind', type(prior).__name__)!r}: its pair part is unknown "
                     "to cgexplain truth")


def _keys(atoms: np.ndarray, n: int) -> np.ndarray:
    k = np.zeros(len(atoms), np.int64)
    for c in range(atoms.shape[1]):
        k = k * n + atoms[:, c].astype(np.int64)
    return k


def _unkey(keys: np.ndarray, n: int, body: int) -> np.ndarray:
    out = np.zeros((len(keys), body), np.int64)
    k = np.asarray(keys, np.int64).copy()
    for c in range(body - 1, -1, -1):
        out[:, c] = k % n
        k //= n
    return out


def _sum_by_key(keys, vals) -> tuple[np.ndarray, np.ndarray]:
    keys = np.asarray(keys, np.int64)
    if not len(keys):
        return np.zeros(0, np.int64), np.zeros(0)
    u, inv = np.unique(keys, return_inverse=True)
    return u, np.bincount(inv.reshape(-1), weights=np.asarray(vals, np.float64), minlength=len(u))


def frame_truth(model, x: np.ndarray, box=None, prior=None):
    """(pairs (P, 2), E2_net (P,), triplets (T, 3), E3 (T,)) of frame ``x``: non-bonded true energies per
    sorted pair and triplet, the prior's pair part subtracted from the pairs (pairs of the prior alone are
    kept, with its negative energy)."""
    from ..systems.groundtruth import decompose

    x = np.asarray(x, np.float64)
    n = len(x)
    dec = decompose(model, x, box)
    p2, e2 = dec.pairs()
    p3, e3 = dec.triplets()
    if prior is not None:
        pp, ep = prior_pair_energy(prior, x)
        k, e = _sum_by_key(np.r_[_keys(p2, n), _keys(pp, n)], np.r_[e2, -ep])
        p2, e2 = _unkey(k, n, 2), e
    return p2, e2, p3, e3


def _rows(rel: dict, group: str, body: int, n: int):
    """(frame, key, r) of the relevance file's ``group`` rows ("pair": i, j; "trip": i, j, k)."""
    names = ("i", "j", "k")[:body]
    atoms = np.stack([np.asarray(rel[f"{group}_{c}"], np.int64) for c in names], 1) if len(rel[f"{group}_r"]) \
        else np.zeros((0, body), np.int64)
    return np.asarray(rel[f"{group}_frame"], np.int64), _keys(np.sort(atoms, axis=1), n), \
        np.asarray(rel[f"{group}_r"], np.float64)


def _check_frames(rel: dict, coords: np.ndarray, what: str) -> np.ndarray:
    fi = np.asarray(rel["frame_index"], np.int64).reshape(-1)
    if len(fi) == 0:
        raise InputError(f"{what}: no frames")
    if fi.min() < 0 or fi.max() >= len(coords):
        raise InputError(f"{what}: frame_index outside the {len(coords)} frames given")
    if "r1" in rel and np.asarray(rel["r1"]).shape[-1] != coords.shape[1]:
        raise InputError(f"{what}: {np.asarray(rel['r1']).shape[-1]} beads, the frames have {coords.shape[1]}")
    return fi


# ------------------------------------------------------------------------------------------- protein
def _check_mutant_file(mrel: dict, name: str, names) -> None:
    """A mutant relevance file records its ``--mutate BEAD:RESIDUE`` (0-based bead): it must be ``name``'s."""
    from ..core.residues import parse_mutation

    try:
        bead, new = parse_mutation(name, names)
    except ValueError as e:
        raise InputError(f"mutant {name}: {e}") from None
    if "mutations" in mrel:
        got = [str(m).upper() for m in np.asarray(mrel["mutations"]).reshape(-1)]
        want = f"{bead}:{str(new).upper()}"
        if got != [want]:
            raise InputError(f"mutant {name}: its relevance file was made with --mutate {got}, expected [{want!r}]")


def _seq_sep(model) -> int:
    return int(getattr(getattr(model, "params", None), "min_seq_sep", 1))


def _nonlocal(atoms: np.ndarray, sep: int) -> np.ndarray:
    a = np.sort(atoms, axis=1)
    return np.all(np.diff(a, axis=1) >= sep, axis=1) & ((a[:, -1] - a[:, 0]) >= sep)


def _protein_means(rel: dict, coords: np.ndarray, model, prior, what: str):
    """Per pair and per triplet: mean relevance and mean true (net) energy over the file's frames."""
    fi = _check_frames(rel, coords, what)
    F, n = len(fi), coords.shape[1]
    kp_t, ep_t, kt_t, et_t = [], [], [], []
    for x in coords[fi]:
        p2, e2, p3, e3 = frame_truth(model, x, None, prior)
        kp_t.append(_keys(p2, n)), ep_t.append(e2), kt_t.append(_keys(p3, n)), et_t.append(e3)
    _, kp_r, rp = _rows(rel, "pair", 2, n)
    _, kt_r, rt = _rows(rel, "trip", 3, n)
    out = {}
    for body, kt, et, kr, rr in ((2, kp_t, ep_t, kp_r, rp), (3, kt_t, et_t, kt_r, rt)):
        kE, sE = _sum_by_key(np.concatenate(kt) if kt else [], np.concatenate(et) if et else [])
        kR, sR = _sum_by_key(kr, rr)
        keys = np.union1d(kE, kR)
        E, R = np.zeros(len(keys)), np.zeros(len(keys))
        E[np.searchsorted(keys, kE)] = sE / F
        R[np.searchsorted(keys, kR)] = sR / F
        visited = np.zeros(len(keys), bool)
        visited[np.searchsorted(keys, kR)] = True
        out[body] = (_unkey(keys, n, body), R, E, visited)
    return fi, out


def protein_truth(rel: dict, coords: np.ndarray, model, prior=None, mutants: dict | None = None,
                  sign_tol: float = SIGN_TOL, what: str = "relevance") -> dict[str, np.ndarray]:
    """Relevance of a protein (Gō) file against the truth; ``mutants``: {"ILE4ASN": mutant relevance dict} on
    the same frames (``prior``: the wild type's, for the mutants too: its pair part cancels in ΔE)."""
    coords = np.asarray(coords, np.float64)
    sep = _seq_sep(model)
    fi, m = _protein_means(rel, coords, model, prior, what)
    pairs, R2, E2, vis2 = m[2]
    sel = vis2 & _nonlocal(pairs, sep)
    pairs, R2, E2 = pairs[sel], R2[sel], E2[sel]
    trips, R3, E3, vis3 = m[3]
    tri_true = np.isin(_keys(trips, coords.shape[1]), _keys(np.sort(np.asarray(
        getattr(model, "triangles", np.zeros((0, 3), np.int64)), np.int64).reshape(-1, 3), axis=1), coords.shape[1]))
    sel3 = (vis3 | tri_true) & _nonlocal(trips, sep)
    trips, R3, E3, tri = trips[sel3], R3[sel3], E3[sel3], tri_true[sel3]
    planted_atoms = np.sort(np.asarray(model.destabilising() if hasattr(model, "destabilising")
                                       else np.zeros((0, 2)), np.int64).reshape(-1, 2), axis=1)
    n = coords.shape[1]
    planted = np.isin(_keys(pairs, n), _keys(planted_atoms, n))
    names = np.asarray(model.bead_names).astype(str) if hasattr(model, "bead_names") else np.array(
        [f"B{i}" for i in range(n)])
    out = {
        "kind": np.asarray("protein"), "compared": np.asarray(COMPARED), "n_frames": np.asarray(len(fi)),
        "min_seq_sep": np.asarray(sep), "bead_names": names, "stat_names": np.array(STAT_NAMES),
        "pairs": pairs, "pair_R": R2, "pair_E": E2, "pair_planted": planted,
        "trips": trips, "trip_R": R3, "trip_E": E3, "trip_triangle": tri,
        "stats_pair": stats_array(compare(R2, E2, sign_tol)),
        "stats_triplet": stats_array(compare(R3, E3, sign_tol)),
        "stats_triangle": stats_array(compare(R3[tri], E3[tri], sign_tol)),
        "planted_pairs": planted_atoms,
    }
    # planted pairs missing from the compared set (no walk visited them) are reported with NaN relevance
    lookup = {tuple(p): k for k, p in enumerate(pairs.tolist())}
    out["planted_R"] = np.array([R2[lookup[tuple(p)]] if tuple(p) in lookup else np.nan
                                 for p in planted_atoms.tolist()])
    out["planted_E"] = np.array([E2[lookup[tuple(p)]] if tuple(p) in lookup else np.nan
                                 for p in planted_atoms.tolist()])
    mnames, mstats, mstats_bead = [], [], []
    for name, mrel in (mutants or {}).items():
        mfi = np.asarray(mrel["frame_index"], np.int64).reshape(-1)
        if not np.array_equal(mfi, fi):
            raise InputError(f"mutant {name}: its frames are not those of the wild-type relevance file")
        _check_mutant_file(mrel, name, names)
        mm = model.mutate(name)
        _, mmeans = _protein_means(mrel, coords, mm, prior, f"mutant {name}")  # the WT prior (see above)
        # both on the union of the pairs compared in either file
        w, mu = m[2], mmeans[2]
        keys = np.union1d(_keys(w[0][w[3]], n), _keys(mu[0][mu[3]], n))
        keys = keys[_nonlocal(_unkey(keys, n, 2), sep)]

        def at(t, keys=keys):
            """(R, E) of table ``t`` at ``keys`` (0 where the table lacks the pair)."""
            k = _keys(t[0], n)
            R, E = np.zeros(len(keys)), np.zeros(len(keys))
            hit = np.isin(keys, k)
            pos = np.searchsorted(k, keys[hit])
            R[hit], E[hit] = t[1][pos], t[2][pos]
            return R, E

        Rw, Ew = at(w)
        Rm, Em = at(mu)
        mp = _unkey(keys, n, 2)
        from ..core.residues import parse_mutation

        bead = parse_mutation(name, names)[0]
        of_bead = (mp == bead).any(1)
        out[f"mut_{name}_pairs"] = mp
        out[f"mut_{name}_dR"] = Rm - Rw
        out[f"mut_{name}_dE"] = Em - Ew
        out[f"mut_{name}_of_bead"] = of_bead
        mnames.append(name)
        mstats.append(stats_array(compare(Rm - Rw, Em - Ew, sign_tol)))
        mstats_bead.append(stats_array(compare((Rm - Rw)[of_bead], (Em - Ew)[of_bead], sign_tol)))
    out["mutations"] = np.array(mnames, dtype=str)
    out["stats_mutant"] = np.array(mstats).reshape(-1, len(STAT_NAMES))
    out["stats_mutant_bead"] = np.array(mstats_bead).reshape(-1, len(STAT_NAMES))
    return out


# ------------------------------------------------------------------------------------------- fluid
def fluid_truth(rel: dict, coords: np.ndarray, boxes, model, bins: int = 75, angle_bins: int = 50,
                edge_bins: int = 50, min_count: int = 1, sign_tol: float = SIGN_TOL,
                what: str = "relevance") -> dict[str, np.ndarray]:
    """Relevance of a fluid (mW) file against the truth, per distance bin (2-body) and per (θ, L) bin of
    Figure 3 (3-body)."""
    from ..core.binning import binned_mean, binned_mean_2d
    from ..core.geometry import pair_distance, triangle_geometry

    coords = np.asarray(coords, np.float64)
    fi = _check_frames(rel, coords, what)
    n = coords.shape[1]
    cutoff = float(rel["cutoff"])
    fp, kp, rp = _rows(rel, "pair", 2, n)
    ft, kt, rt = _rows(rel, "trip", 3, n)
    pd, tth, tL = np.asarray(rel["pair_dist"], np.float64), np.asarray(rel["trip_theta"], np.float64), \
        np.asarray(rel["trip_L"], np.float64)
    rows2, rows3 = [], []  # (R, E, dist) and (R, E, theta, L) per frame
    o2, o3 = np.argsort(fp, kind="stable"), np.argsort(ft, kind="stable")  # rows by frame: one slice each
    fp, kp, rp, pd = fp[o2], kp[o2], rp[o2], pd[o2]
    ft, kt, rt, tth, tL = ft[o3], kt[o3], rt[o3], tth[o3], tL[o3]
    b2 = np.searchsorted(fp, np.arange(len(fi) + 1))
    b3 = np.searchsorted(ft, np.arange(len(fi) + 1))
    for f, idx in enumerate(fi):
        x = coords[idx]
        box = None if boxes is None else np.asarray(boxes[idx], np.float64).reshape(3)
        p2, e2, p3, e3 = frame_truth(model, x, box, None)
        s2, s3 = slice(b2[f], b2[f + 1]), slice(b3[f], b3[f + 1])
        for (keys_r, r_r, extra_r, atoms_t, e_t, body, sink) in (
                (kp[s2], rp[s2], [pd[s2]], p2, e2, 2, rows2),
                (kt[s3], rt[s3], [tth[s3], tL[s3]], p3, e3, 3, rows3)):
            k_t = _keys(atoms_t, n)
            keys = np.union1d(keys_r, k_t)
            R, E = np.zeros(len(keys)), np.zeros(len(keys))
            np.add.at(R, np.searchsorted(keys, keys_r), r_r)
            np.add.at(E, np.searchsorted(keys, k_t), e_t)
            geo = [np.full(len(keys), np.nan) for _ in extra_r]
            pos_r = np.searchsorted(keys, keys_r)
            for g, v in zip(geo, extra_r):
                g[pos_r] = v
            miss = ~np.isin(keys, keys_r)
            if miss.any():
                atoms = _unkey(keys[miss], n, body)
                if body == 2:
                    geo[0][miss] = pair_distance(x, box, atoms[:, 0], atoms[:, 1])
                else:
                    g = triangle_geometry(x, box, atoms)
                    geo[0][miss], geo[1][miss] = g["theta"], g["L"]
            sink.append(np.stack([R, E, *geo], 1))
    r2 = np.concatenate(rows2) if rows2 else np.zeros((0, 3))
    r3 = np.concatenate(rows3) if rows3 else np.zeros((0, 4))
    edges = np.linspace(0.0, cutoff, bins + 1)
    mR2, _, cnt2 = binned_mean(r2[:, 2], r2[:, 0], edges)
    mE2, _, _ = binned_mean(r2[:, 2], r2[:, 1], edges)
    te, le = np.linspace(60.0, 180.0, angle_bins + 1), np.linspace(0.0, 2.0 * cutoff, edge_bins + 1)
    mR3, cnt3 = binned_mean_2d(r3[:, 2], r3[:, 3], r3[:, 0], te, le)
    mE3, _ = binned_mean_2d(r3[:, 2], r3[:, 3], r3[:, 1], te, le)
    ok2, ok3 = cnt2 >= max(min_count, 1), cnt3 >= max(min_count, 1)
    return {
        "kind": np.asarray("fluid"), "compared": np.asarray(COMPARED), "n_frames": np.asarray(len(fi)),
        "stat_names": np.array(STAT_NAMES), "cutoff": np.asarray(cutoff), "min_count": np.asarray(min_count),
        "r_edges": edges, "bin2_R": mR2, "bin2_E": mE2, "bin2_count": cnt2,
        "theta_edges": te, "L_edges": le, "bin3_R": mR3, "bin3_E": mE3, "bin3_count": cnt3,
        "stats_bin2": stats_array(compare(mR2[ok2], mE2[ok2], sign_tol)),
        "stats_bin3": stats_array(compare(mR3[ok3], mE3[ok3], sign_tol)),
        "stats_row2": stats_array(compare(r2[:, 0], r2[:, 1], sign_tol)),
        "stats_row3": stats_array(compare(r3[:, 0], r3[:, 1], sign_tol)),
    }


# ------------------------------------------------------------------------------------------- validation
def oracle_relevance(model, coords: np.ndarray, boxes=None, prior=None, cutoff: float = 10.0,
                     frames=None) -> dict[str, np.ndarray]:
    """A relevance dict (the fields this module reads, ``cgexplain-relevance/1`` names) whose 2- and 3-body
    relevances *are* the true net energies of each frame (pairs and triplets with a true term): the
    validation case — against the truth it must give correlation 1 and sign agreement 1."""
    from ..core.geometry import pair_distance, triangle_geometry

    coords = np.asarray(coords, np.float64)
    fi = np.arange(len(coords)) if frames is None else np.asarray(frames, np.int64)
    cols = {k: [] for k in ("pair_frame", "pair_i", "pair_j", "pair_r", "pair_dist", "trip_frame", "trip_i",
                            "trip_j", "trip_k", "trip_r", "trip_theta", "trip_L")}
    for f, idx in enumerate(fi):
        x = coords[idx]
        box = None if boxes is None else np.asarray(boxes[idx], np.float64).reshape(3)
        p2, e2, p3, e3 = frame_truth(model, x, box, prior)
        cols["pair_frame"].append(np.full(len(p2), f)), cols["pair_i"].append(p2[:, 0])
        cols["pair_j"].append(p2[:, 1]), cols["pair_r"].append(e2)
        cols["pair_dist"].append(pair_distance(x, box, p2[:, 0], p2[:, 1]))
        g = triangle_geometry(x, box, p3)
        cols["trip_frame"].append(np.full(len(p3), f))
        for c, name in enumerate("ijk"):
            cols[f"trip_{name}"].append(p3[:, c])
        cols["trip_r"].append(e3), cols["trip_theta"].append(g["theta"]), cols["trip_L"].append(g["L"])
    out = {k: np.concatenate(v).astype(np.int64) if k.endswith(("_frame", "_i", "_j", "_k")) else np.concatenate(v)
           for k, v in cols.items()}
    out.update(frame_index=fi, cutoff=np.asarray(float(cutoff)), energy=np.zeros(len(fi)),
               r1=np.zeros((len(fi), coords.shape[1])))
    return out


# ------------------------------------------------------------------------------------------- files
def write_csv(res: dict, path: str | Path) -> Path:
    """One row per compared pair / triplet / mutant pair (protein) or per bin (fluid); blank cells where a
    column does not apply."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ["table", "i", "j", "k", "residues", "x", "y", "mean_relevance", "mean_true_energy", "count", "flag"]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        g = lambda v: f"{float(v):.6g}"
        if str(res["kind"]) == "protein":
            names = res["bead_names"]
            lab = lambda t: "-".join(f"{names[a]}{a + 1}" for a in t)
            for t, R, E, p in zip(res["pairs"], res["pair_R"], res["pair_E"], res["pair_planted"]):
                w.writerow(["pair", t[0] + 1, t[1] + 1, "", lab(t), "", "", g(R), g(E), int(res["n_frames"]),
                            "planted" if p else ""])
            for t, R, E, tri in zip(res["trips"], res["trip_R"], res["trip_E"], res["trip_triangle"]):
                w.writerow(["triplet", *(t + 1), lab(t), "", "", g(R), g(E), int(res["n_frames"]),
                            "triangle" if tri else ""])
            for name in res["mutations"]:
                for t, dR, dE, ob in zip(res[f"mut_{name}_pairs"], res[f"mut_{name}_dR"], res[f"mut_{name}_dE"],
                                         res[f"mut_{name}_of_bead"]):
                    w.writerow([f"mutant:{name}", t[0] + 1, t[1] + 1, "", lab(t), "", "", g(dR), g(dE),
                                int(res["n_frames"]), "mutated_bead" if ob else ""])
        else:
            re_ = res["r_edges"]
            for b in range(len(re_) - 1):
                if res["bin2_count"][b] > 0:
                    w.writerow(["bin2", "", "", "", "", g(0.5 * (re_[b] + re_[b + 1])), "", g(res["bin2_R"][b]),
                                g(res["bin2_E"][b]), int(res["bin2_count"][b]), ""])
            te, le = res["theta_edges"], res["L_edges"]
            for a in range(len(te) - 1):
                for b in range(len(le) - 1):
                    if res["bin3_count"][a, b] > 0:
                        w.writerow(["bin3", "", "", "", "", g(0.5 * (te[a] + te[a + 1])), g(0.5 * (le[b] + le[b + 1])),
                                    g(res["bin3_R"][a, b]), g(res["bin3_E"][a, b]), int(res["bin3_count"][a, b]), ""])
    tmp.replace(path)
    return path


def stats_lines(res: dict) -> list[str]:
    """One human-readable line per statistics set (for the log)."""
    out = []
    for k in sorted(k for k in res if k.startswith("stats_") and res[k].ndim == 1):
        s = dict(zip(STAT_NAMES, res[k]))
        out.append(f"{k[6:]}: n {int(s['n'])}, pearson {s['pearson']:.3f}, spearman {s['spearman']:.3f}, "
                   f"sign agreement {s['sign_agreement']:.3f} (of {int(s['n_sign'])}), slope {s['slope']:.3g}")
    for name, s, sb in zip(res.get("mutations", []), res.get("stats_mutant", []), res.get("stats_mutant_bead", [])):
        out.append(f"mutant {name}: pearson {s[1]:.3f}, spearman {s[2]:.3f}, sign {s[3]:.3f} (n {int(s[0])}); "
                   f"pairs of the bead: pearson {sb[1]:.3f} (n {int(sb[0])})")
    return out


def _load(path: Path, what: str) -> dict:
    from ..data.dataset import read_npz

    return read_npz(path, what)


def main(argv: list[str] | None = None) -> int:
    from ..core.runtime import save_npz

    ap = argparse.ArgumentParser(prog="cgexplain truth", description=__doc__.splitlines()[0])
    ap.add_argument("--relevance", required=True, type=Path, help="relevance file (cgexplain-relevance/1)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", type=Path, help="the CG dataset the relevance file explained")
    src.add_argument("--trajectory", type=Path, help="the CG trajectory the relevance file explained")
    ap.add_argument("--system", required=True,
                    help="registered system with a ground truth (System.truth_model), e.g. ntl9_go, mw_water")
    ap.add_argument("--params", default="{}", help="JSON: the system's config block (sequence, structure, go)")
    ap.add_argument("--prior", type=Path, help="prior file (prior.pt) of the model: its pair part is subtracted")
    ap.add_argument("--mutant", nargs="*", default=[], help="MUTATION=relevance.npz (e.g. ILE4ASN=...)")
    ap.add_argument("--bins", type=int, default=75, help="fluid: distance bins over [0, cutoff]")
    ap.add_argument("--angle-bins", type=int, default=50)
    ap.add_argument("--edge-bins", type=int, default=50)
    ap.add_argument("--min-count", type=int, default=1, help="fluid: bins with fewer rows are left out")
    ap.add_argument("--sign-tol", type=float, default=SIGN_TOL, help="kcal/mol; smaller |E| do not count for signs")
    ap.add_argument("--out", required=True, type=Path, help="statistics and per-pair/bin arrays (npz)")
    ap.add_argument("--csv", required=True, type=Path)
    a = ap.parse_args(argv)
    from ..data.dataset import frame_boxes, load_dataset, load_trajectory

    if a.dataset:
        d = load_dataset(a.dataset)
        coords, boxes = d["coords"], frame_boxes(d)
    else:
        d = load_trajectory(a.trajectory)
        coords = d["coords"].reshape(-1, d["coords"].shape[-2], 3)
        periodic = bool(d["periodic"]) if "periodic" in d else True
        boxes = np.broadcast_to(d["box"].reshape(1, 3), (coords.shape[0], 3)) if periodic else None
    rel = _load(a.relevance, "relevance file")
    try:
        cfg = json.loads(a.params)
    except json.JSONDecodeError as e:
        raise InputError(f"--params: not JSON ({e})") from None
    box0 = None if boxes is None else boxes[int(np.asarray(rel["frame_index"]).reshape(-1)[0])]
    model = truth_model(a.system, cfg, coords.shape[1], box0)
    from ..systems import get_system

    if get_system(a.system).periodic:  # a fluid: per bin; otherwise a chain: per pair and triplet
        res = fluid_truth(rel, coords, boxes, model, a.bins, a.angle_bins, a.edge_bins, a.min_count, a.sign_tol,
                          str(a.relevance))
    else:
        prior = None
        if a.prior is not None:
            from ..priors.base import read_prior_file

            prior = read_prior_file(a.prior)
        mutants = {}
        for it in a.mutant:
            name, _, path = it.partition("=")
            if not path:
                raise InputError(f"--mutant {it!r}: expected NAME=FILE")
            mutants[name] = _load(Path(path), f"mutant {name} relevance file")
        res = protein_truth(rel, coords, model, prior, mutants, a.sign_tol, str(a.relevance))
    res.update(system=np.asarray(a.system), relevance=np.asarray(str(a.relevance)),
               prior=np.asarray("" if a.prior is None else str(a.prior)), sign_tol=np.asarray(a.sign_tol))
    save_npz(a.out, **res)
    write_csv(res, a.csv)
    for line in stats_lines(res):
        print(f"truth: {line}", file=sys.stderr)
    return 0
