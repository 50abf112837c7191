"""The protein commands behind Figures 4–7 and S11 (cgexplain.analysis.protein) against known answers.

* ``cgexplain states`` on hand-built NTL9 frames of each state (folded, extended, β2 pulled off β1,
  the β1–β2 hairpin alone, the helix alone straightened) gives those states, the native-contact
  fractions 0 or 1 they were built with, samples drawn from the right frames, and the README's DSSP
  elements; a CG trajectory of the same frames gives the same labels.
* ``cgexplain fes``: TICA is fitted on the reference data only (changing only the CG frames leaves the
  reference projection and eigenvalues unchanged; CG frames equal to the reference frames project onto
  the reference's coordinates), and each surface is −kT ln p of its own frame counts, shifted to 0 at
  its minimum, with p summing to one (kT from the dataset's temperature).
* ``cgexplain relevance-maps`` on small relevance files written here: per-pair means and standard
  errors equal a direct mean over frames (0 where a frame lacks the pair), triplet means likewise,
  contact frequencies a direct count, the prior's per-state energies an independent NumPy evaluation of
  its four terms, and pairs.csv / triplets.csv hold exactly those numbers.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from cgexplain.analysis import folding, protein
from cgexplain.analysis.tica import KB_KCAL
from cgexplain.core.residues import chain_bonds, sequence_types, type_names
from cgexplain.data.dataset import write_dataset

REPO = Path(__file__).resolve().parents[1]
PDB = REPO / "resources" / "ntl9" / "ntl9_folded.pdb"
NTL9 = "MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA"
STATE_PARAMS = {"contact_cutoff_A": 8.0, "contact_tolerance": 1.5, "formed": 0.7, "broken": 0.3,
                "n_frames_per_state": 2}


# --------------------------------------------------------------------------------------- states
def _state_frames():
    """Hand-built NTL9 Cα frames and the state each was built to be."""
    el = folding.secondary_structure(PDB)
    ca = folding.ca_coordinates(PDB)

    def centroid(name):
        a, b = el[name]
        return ca[a:b + 1].mean(0)

    def pulled(name, away_from, dist):
        u = centroid(name) - centroid(away_from)
        x = ca.copy()
        a, b = el[name]
        x[a:b + 1] += dist * u / np.linalg.norm(u)
        return x

    line = np.zeros_like(ca)
    line[:, 0] = 3.8 * np.arange(len(ca))
    h0, h1 = el["helix"]
    u = ca[h0 - 1] - ca[:h0].mean(0)
    u /= np.linalg.norm(u)
    hairpin = ca.copy()  # β1–β2 hairpin native, helix and β3 straightened away from it
    hairpin[h0:] = ca[h0 - 1] + 3.8 * np.arange(1, len(ca) - h0 + 1)[:, None] * u
    no_helix = ca.copy()  # both sheets native, the helix alone straightened: no state
    no_helix[h0:h1 + 1] = ca[h0] + 3.8 * np.arange(h1 - h0 + 1)[:, None] * u
    rng = np.random.default_rng(21)
    frames = [ca, line, pulled("beta2", "beta1", 15.0), hairpin, no_helix,
              ca + rng.normal(scale=0.3, size=ca.shape), line + rng.normal(scale=0.3, size=ca.shape),
              pulled("beta2", "beta1", 20.0)]
    expected = ["F", "U", "P1", "P2", "other", "F", "U", "P1"]
    fractions = {"F": (1, 1, 1), "U": (0, 0, 0), "P1": (0, 1, 1), "P2": (1, 0, 0), "other": (1, 1, 0)}
    return np.array(frames, dtype=np.float32), expected, [fractions[s] for s in expected], ca


def _ntl9_dataset(path, X):
    z = sequence_types(NTL9)
    write_dataset(path, coords=X, forces=np.zeros_like(X), box=np.zeros((len(X), 3)), z=z,
                  masses=np.full(len(z), 13.0), train_idx=np.arange(len(X)), val_idx=[0], periodic=False,
                  temperature_K=350.0, bonds=chain_bonds(len(z)))


def test_states_of_hand_built_frames(tmp_path):
    X, expected, fractions, ca = _state_frames()
    _ntl9_dataset(tmp_path / "ds.npz", X)
    args = ["--structure", str(PDB), "--params", json.dumps(STATE_PARAMS), "--seed", "4"]
    assert protein.main_states(["--input", str(tmp_path / "ds.npz"), *args, "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as d:
        s = {k: d[k] for k in d.files}
    assert s["labels"].tolist() == expected
    assert s["pairings"].tolist() == list(folding.PAIRINGS)
    np.testing.assert_array_equal(s["fractions"], np.array(fractions, float))
    for state in protein.STATES:  # two frames per state were built: both are the sample
        np.testing.assert_array_equal(s[f"sample_{state}"], [k for k, e in enumerate(expected) if e == state])
    # the elements of the README (1-based β1 2–5, β2 18–20, helix 23–33, β3 36–38)
    got = dict(zip(s["elements_names"].tolist(), map(tuple, s["elements_ranges"].tolist())))
    assert got == {"beta1": (1, 4), "beta2": (17, 19), "beta3": (35, 37), "helix": (22, 32)}
    np.testing.assert_allclose(s["ca_folded"], ca)
    # a CG trajectory (replicas, frames, beads, 3) of the same frames: the same labels, in order
    np.savez(tmp_path / "t.npz", coords=X.reshape(2, 4, *X.shape[1:]), box=np.zeros(3), z=sequence_types(NTL9),
             periodic=False)
    assert protein.main_states(["--input", str(tmp_path / "t.npz"), *args, "--out", str(tmp_path / "st.npz")]) == 0
    with np.load(tmp_path / "st.npz") as d:
        assert d["labels"].tolist() == expected


# ------------------------------------------------------------------------------------------ fes
N_BEADS = 10


def _hinge_frames(rng, n_traj, length, dwell=60, noise=0.25):
    """A 10-bead chain whose tail swings between two positions (a slow two-state jump process)
    with fast Gaussian noise on every bead: (R, F, N, 3) Å and the hidden state (R, F)."""
    k = np.arange(N_BEADS)
    base = np.stack([3.8 * k, np.zeros(N_BEADS), np.zeros(N_BEADS)], 1)
    swing = np.zeros((N_BEADS, 3))
    swing[6:, 1] = 2.0 * (k[6:] - 5)  # the last four beads move sideways together
    X, S = [], []
    for _ in range(n_traj):
        flips = rng.random(length) < 1.0 / dwell
        s = np.where(np.cumsum(flips) % 2 == 0, 1.0, -1.0)
        X.append(base[None] + (s[:, None, None] > 0) * swing[None] + rng.normal(scale=noise, size=(length, N_BEADS, 3)))
        S.append(s)
    return np.array(X, dtype=np.float32), np.array(S)


def _fes_inputs(tmp_path, rng):
    X, S = _hinge_frames(rng, 2, 300)
    z = sequence_types("MKVIFLKDVK")
    flat = X.reshape(-1, N_BEADS, 3)
    write_dataset(tmp_path / "ds.npz", coords=flat, forces=np.zeros_like(flat), box=np.zeros((len(flat), 3)), z=z,
                  masses=np.full(N_BEADS, 13.0), train_idx=np.arange(len(flat)), val_idx=[0], periodic=False,
                  temperature_K=350.0, replica=np.repeat([0, 1], 300), bonds=chain_bonds(N_BEADS))
    labels = np.where(S.reshape(-1) > 0, "F", "U").astype("<U5")
    labels[::50] = "other"
    np.savez(tmp_path / "states_aa.npz", labels=labels)
    return flat, labels, z


def _run_fes(tmp_path, cg_coords, name):
    np.savez(tmp_path / f"{name}.npz", coords=cg_coords, box=np.zeros(3), z=sequence_types("MKVIFLKDVK"),
             periodic=False)
    R, F = cg_coords.shape[:2]
    np.savez(tmp_path / f"states_{name}.npz", labels=np.full(R * F, "U", dtype="<U5"))
    params = {"tica_lag": 5, "tica_min_separation": 3, "fes_bins": 12}
    assert protein.main_fes(["--dataset", str(tmp_path / "ds.npz"), "--trajectory", str(tmp_path / f"{name}.npz"),
                             "--states-aa", str(tmp_path / "states_aa.npz"), "--states-cg",
                             str(tmp_path / f"states_{name}.npz"), "--params", json.dumps(params), "--model", "painn",
                             "--out", str(tmp_path / f"fes_{name}.npz")]) == 0
    with np.load(tmp_path / f"fes_{name}.npz") as d:
        return {k: d[k] for k in d.files}


def test_tica_is_fitted_on_the_reference_only(tmp_path):
    rng = np.random.default_rng(22)
    flat, _, _ = _fes_inputs(tmp_path, rng)
    a = _run_fes(tmp_path, _hinge_frames(rng, 3, 100)[0], "cg_a")
    b = _run_fes(tmp_path, 1.3 * _hinge_frames(rng, 2, 80, noise=1.0)[0], "cg_b")  # other, wider CG frames
    np.testing.assert_array_equal(a["aa_proj"], b["aa_proj"])
    np.testing.assert_array_equal(a["tica_eigenvalues"], b["tica_eigenvalues"])
    assert a["cg_proj"].shape == (300, 2) and b["cg_proj"].shape == (160, 2)
    assert int(a["tica_lag"]) == 5 and a["tica_eigenvalues"][0] > 0.8  # the slow swing is found
    # CG frames that are the reference frames project exactly onto the reference coordinates
    same = _run_fes(tmp_path, flat.reshape(2, 300, N_BEADS, 3), "cg_same")
    np.testing.assert_allclose(same["cg_proj"], same["aa_proj"], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(same["aa_proj"], a["aa_proj"])


def test_fes_is_minus_kt_ln_p_of_its_own_counts(tmp_path):
    rng = np.random.default_rng(23)
    flat, labels, z = _fes_inputs(tmp_path, rng)
    res = _run_fes(tmp_path, _hinge_frames(rng, 2, 150)[0], "cg")
    kT = float(res["kT"])
    assert kT == pytest.approx(0.0019872041 * 350.0, rel=1e-12) and KB_KCAL == 0.0019872041
    ex, ey = res["edges_x"], res["edges_y"]
    assert len(ex) == len(ey) == 13
    for proj, F in ((res["aa_proj"], res["fes_aa"]), (res["cg_proj"], res["fes_cg"])):
        # counts by hand: bin index of each point on the uniform edges
        ix = np.minimum(((proj[:, 0] - ex[0]) / (ex[1] - ex[0])).astype(int), 11)
        iy = np.minimum(((proj[:, 1] - ey[0]) / (ey[1] - ey[0])).astype(int), 11)
        counts = np.zeros((12, 12))
        np.add.at(counts, (ix, iy), 1)
        p = counts / counts.sum()
        assert np.array_equal(np.isnan(F), counts == 0)
        assert np.nanmin(F) == 0.0 and F[np.unravel_index(np.argmax(counts), F.shape)] == pytest.approx(0.0, abs=1e-12)
        boltz = np.where(counts > 0, np.exp(-np.nan_to_num(F, nan=np.inf) / kT), 0.0)
        np.testing.assert_allclose(boltz / boltz.sum(), p, rtol=1e-9, atol=1e-15)  # probabilities, sum one
        filled = counts > 0
        np.testing.assert_allclose(F[filled], -kT * np.log(p[filled] / p.max()), rtol=1e-9, atol=1e-12)
    # the representative frame of each state is one of that state's frames, at the median of its projections
    for k, s in enumerate(res["state_names"]):
        idx = np.flatnonzero(labels == s)
        assert bool(res["rep_found"][k]) == (len(idx) > 0)
        if len(idx):
            med = np.median(res["aa_proj"][idx], axis=0)
            best = idx[np.argmin(((res["aa_proj"][idx] - med) ** 2).sum(1))]
            np.testing.assert_array_equal(res["rep_coords"][k], flat[best])
    assert res["bead_names"].tolist() == type_names(z).tolist()


# ------------------------------------------------------------------------------- relevance maps
SEQ = "MKVIFLKDVKGMGKKGEI"
PRIOR_TABLES = {
    "bond": {"entries": [], "default": {"types": [], "x0": 3.8, "k": 5.0, "V0": 0.1, "n_samples": 0}},
    "angle": {"entries": [], "default": {"types": [], "x0": -0.1, "k": 3.0, "V0": 0.2, "n_samples": 0}},
    "dihedral": {"entries": [], "default": {"types": [], "V0": 0.05, "k1": [0.3, 0.1], "k2": [0.2, -0.15],
                                            "n_samples": 0}},
    "repulsion": {"entries": [], "default": {"types": [], "sigma": 5.5, "n_samples": 0}},
}
K_REP = 20.0


def _prior_terms_numpy(X):
    """Bond, angle, dihedral and repulsion energies (F, 4) of a linear chain, written out here."""
    out = []
    for x in np.asarray(X, float):
        n = len(x)
        r = np.linalg.norm(x[1:] - x[:-1], axis=1)
        bond = np.sum(5.0 * (r - 3.8) ** 2 + 0.1)
        angle = 0.0
        for j in range(1, n - 1):
            a, c = x[j - 1] - x[j], x[j + 1] - x[j]
            angle += 3.0 * (a @ c / np.linalg.norm(a) / np.linalg.norm(c) + 0.1) ** 2 + 0.2
        dihedral = 0.0
        for i in range(n - 3):
            b1, b2, b3 = x[i + 1] - x[i], x[i + 2] - x[i + 1], x[i + 3] - x[i + 2]
            e2 = b2 / np.linalg.norm(b2)
            v, w = -b1 + (b1 @ e2) * e2, b3 - (b3 @ e2) * e2  # bonds to the end beads, normal to b2
            phi = math.atan2(np.cross(e2, v) @ w, v @ w)
            dihedral += 0.05 + sum(k1 * math.sin(m * phi) + k2 * math.cos(m * phi)
                                   for m, k1, k2 in ((1, 0.3, 0.2), (2, 0.1, -0.15)))
        rep = sum(K_REP * max(0.0, 5.5 - np.linalg.norm(x[j] - x[i])) ** 3
                  for i in range(n) for j in range(i + 3, n))
        out.append([bond, angle, dihedral, rep])
    return np.array(out)


def _relevance_file(path, frame_index, pairs, triplets):
    """A relevance file of the format `cgexplain relevance` writes, with the keys relevance-maps reads:
    ``pairs`` {(frame, i, j): r}, ``triplets`` {(frame, i, j, k): r} (frame = position in frame_index)."""
    P = sorted(pairs.items())
    T = sorted(triplets.items())
    np.savez(path, energy=np.zeros(len(frame_index)), frame_index=np.asarray(frame_index, np.int64),
             pair_frame=np.array([k[0] for k, _ in P], np.int64), pair_i=np.array([k[1] for k, _ in P], np.int64),
             pair_j=np.array([k[2] for k, _ in P], np.int64), pair_r=np.array([v for _, v in P], float),
             trip_frame=np.array([k[0] for k, _ in T], np.int64), trip_i=np.array([k[1] for k, _ in T], np.int64),
             trip_j=np.array([k[2] for k, _ in T], np.int64), trip_k=np.array([k[3] for k, _ in T], np.int64),
             trip_r=np.array([v for _, v in T], float))


RELEVANCE = {  # state: (frames of the dataset, pairs, triplets)
    "F": ([0, 2, 5], {(0, 0, 1): 0.5, (0, 2, 5): -0.2, (1, 0, 1): 0.3, (1, 1, 3): 0.7, (2, 2, 5): 0.1, (2, 0, 1): -0.1},
          {(0, 0, 1, 2): 0.2, (2, 0, 1, 2): 0.4, (1, 1, 2, 3): -0.3}),
    "U": ([1, 3], {(0, 0, 1): 1.0, (1, 0, 1): 2.0, (1, 4, 9): -0.5}, {(1, 4, 5, 9): 0.25}),
    "P1": ([4], {(0, 2, 3): 0.8}, {(0, 0, 1, 2): 1.5}),
    "P2": ([], {}, {}),
    "mutant:ILE4ASN": ([0, 2, 5], {(0, 0, 1): 0.6, (1, 3, 4): 0.9, (2, 0, 1): 0.0}, {(0, 0, 1, 2): -0.4}),
}


def test_relevance_maps_equal_direct_means(tmp_path):
    from cgexplain.nn.models import CGPotential, ModelConfig, save_potential
    from cgexplain.priors.protein import ProteinCAPrior

    n = len(SEQ)
    z = sequence_types(SEQ)
    rng = np.random.default_rng(24)
    k = np.arange(n)
    helix = np.stack([2.3 * np.cos(np.radians(100) * k), 2.3 * np.sin(np.radians(100) * k), 1.5 * k], 1)
    X = (helix[None] + rng.normal(scale=0.4, size=(6, n, 3))).astype(np.float32)
    write_dataset(tmp_path / "ds.npz", coords=X, forces=np.zeros_like(X), box=np.zeros((6, 3)), z=z,
                  masses=np.full(n, 13.0), train_idx=np.arange(6), val_idx=[0], periodic=False, temperature_K=350.0,
                  bonds=chain_bonds(n))
    torch.manual_seed(0)
    prior = ProteinCAPrior(z, chain_bonds(n), PRIOR_TABLES, n_terms=2, k_rep=K_REP)
    save_potential(tmp_path / "model.pt", CGPotential(ModelConfig("painn", cutoff=6.0, n_atom_basis=8,
                                                                  n_interactions=1, n_rbf=4), z, prior=prior))
    np.savez(tmp_path / "states.npz", elements_names=np.array(["beta1", "beta2", "beta3", "helix"]),
             elements_ranges=np.array([[1, 3], [6, 8], [14, 16], [9, 12]]), ca_folded=helix)
    for s, (frames, pairs, trips) in RELEVANCE.items():
        _relevance_file(tmp_path / f"{s.replace(':', '_')}.npz", frames, pairs, trips)
    args = ["--state", *(f"{s}={tmp_path / f'{s}.npz'}" for s in protein.STATES),
            "--mutant", f"ILE4ASN={tmp_path / 'mutant_ILE4ASN.npz'}"]
    out = tmp_path / "maps.npz"
    assert protein.main_maps(["--dataset", str(tmp_path / "ds.npz"), "--states-aa", str(tmp_path / "states.npz"),
                              "--model", str(tmp_path / "model.pt"), *args, "--contact-cutoff-A", "6.0",
                              "--out", str(out), "--pairs-csv", str(tmp_path / "pairs.csv"),
                              "--triplets-csv", str(tmp_path / "triplets.csv")]) == 0
    with np.load(out) as d:
        maps = {key: d[key] for key in d.files}

    def direct_pairs(frames, pairs):
        F = len(frames)
        per_pair: dict = {}
        for (f, i, j), r in pairs.items():
            per_pair.setdefault((i, j), np.zeros(F))[f] = r
        return {ij: (v.mean(), v.std(ddof=1) / math.sqrt(F) if F > 1 else 0.0) for ij, v in per_pair.items()}

    trip_union = sorted({t[1:] for _, _, tr in RELEVANCE.values() for t in tr})
    assert [tuple(t) for t in maps["trip_idx"].tolist()] == trip_union
    assert maps["n_frames"].tolist() == [3, 2, 1, 0]
    expected_rows, expected_trips = [], []
    for k, s in enumerate(protein.STATES):
        frames, pairs, trips = RELEVANCE[s]
        want = direct_pairs(frames, pairs)
        mean, se = maps["mean2"][k], maps["se2"][k]
        for i in range(n):
            for j in range(n):
                key = (min(i, j), max(i, j))
                if key in want:
                    assert mean[i, j] == pytest.approx(want[key][0], abs=1e-12)
                    assert se[i, j] == pytest.approx(want[key][1], abs=1e-12)
                else:
                    assert np.isnan(mean[i, j]) and np.isnan(se[i, j])
        expected_rows += [(s, i + 1, j + 1, *want[(i, j)], len(frames)) for i, j in sorted(want)]
        # triplet means: the sum over the state's frames / its frame count (0 for an unvisited triplet)
        for t, v in zip(trip_union, maps["mean3"][k]):
            if frames:
                want3 = sum(r for key, r in trips.items() if key[1:] == t) / len(frames)
                assert v == pytest.approx(want3, abs=1e-12)
                expected_trips.append((s, *(x + 1 for x in t), want3, len(frames)))
            else:
                assert np.isnan(v)
        # contact frequency over the state's frames; the prior's mean energy per term
        if frames:
            Xs = X[frames].astype(float)
            freq = np.mean([[[np.linalg.norm(x[i] - x[j]) < 6.0 for j in range(n)] for i in range(n)] for x in Xs], 0)
            np.testing.assert_allclose(maps["contact_freq"][k], freq)
            np.testing.assert_allclose(maps["prior_terms"][k], _prior_terms_numpy(Xs).mean(0), rtol=1e-6, atol=1e-6)
            assert np.all(np.abs(_prior_terms_numpy(Xs).mean(0)) > 1e-3)  # every term takes part
        else:
            assert np.isnan(maps["prior_terms"][k]).all() and np.isnan(maps["contact_freq"][k]).all()
    assert maps["prior_term_names"].tolist() == ["bond", "angle", "dihedral", "repulsion"]
    mut = direct_pairs(*RELEVANCE["mutant:ILE4ASN"][:2])
    assert maps["mutations"].tolist() == ["ILE4ASN"] and maps["mut_index"].tolist() == [3]
    assert maps["mut_mean2"][0][0, 1] == pytest.approx(mut[(0, 1)][0]) and np.isnan(maps["mut_mean2"][0][2, 5])
    expected_rows += [("mutant:ILE4ASN", i + 1, j + 1, *mut[(i, j)], 3) for i, j in sorted(mut)]

    # the tables hold exactly these numbers (6 significant digits), one row per visited pair / triplet
    names = type_names(z)
    rows = list(csv.DictReader((tmp_path / "pairs.csv").read_text().splitlines()))
    assert len(rows) == len(expected_rows)
    for row, (s, i, j, m, e, nf) in zip(rows, expected_rows):
        assert (row["state"], int(row["i"]), int(row["j"]), int(row["n_frames"])) == (s, i, j, nf)
        assert row["residue_i"] == f"{names[i - 1]}{i}" and row["residue_j"] == f"{names[j - 1]}{j}"
        assert float(row["mean_relevance"]) == pytest.approx(m, rel=1e-5, abs=1e-12)
        assert float(row["standard_error"]) == pytest.approx(e, rel=1e-5, abs=1e-12)
    rows = list(csv.DictReader((tmp_path / "triplets.csv").read_text().splitlines()))
    assert len(rows) == len(expected_trips)
    for row, (s, i, j, kk, m, nf) in zip(rows, expected_trips):
        assert (row["state"], int(row["i"]), int(row["j"]), int(row["k"]), int(row["n_frames"])) == (s, i, j, kk, nf)
        assert row["residue_k"] == f"{names[kk - 1]}{kk}"
        assert float(row["mean_relevance"]) == pytest.approx(m, rel=1e-5, abs=1e-12)
