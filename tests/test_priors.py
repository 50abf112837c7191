"""The prior registry and the ``protein_ca`` Cα prior: fitting, forces, serialisation, chirality."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from cgexplain.core.residues import chain_bonds
from cgexplain.priors import REGISTRY, Prior, fit_prior, prior_energy_forces, prior_from_dict, prior_to_dict
from cgexplain.priors.protein import (
    KB_KCAL_PER_MOL_K,
    ProteinCAPrior,
    cos_angles,
    dihedral_angles,
    distances,
    fit_fourier,
    fit_harmonic,
    topology,
)

T_K = 300.0
KT = KB_KCAL_PER_MOL_K * T_K
# the "true" potentials the synthetic samples are drawn from
BOND = {"r0": 3.8, "k": 40.0}                       # kcal/mol/Å², U = k (r - r0)^2
ANGLE = {"c0": -0.3, "k": 25.0}                     # U = k (cos θ - c0)^2
DIH = {"k1": [-0.8, 0.3], "k2": [-0.5, 0.4]}        # U = Σ k1_n sin nφ + k2_n cos nφ


def _sample(rng, grid, logw, n):
    """Inverse-CDF sampling of the density exp(logw) tabulated on a fine grid."""
    w = np.exp(logw - logw.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(grid))])
    return np.interp(rng.random(n), cdf / cdf[-1], grid)


def _v_dih(phi, k1=DIH["k1"], k2=DIH["k2"]):
    return sum(a * np.sin((n + 1) * phi) + b * np.cos((n + 1) * phi) for n, (a, b) in enumerate(zip(k1, k2)))


def sample_bonds(rng, n):
    s = math.sqrt(KT / (2 * BOND["k"]))
    r = np.linspace(BOND["r0"] - 10 * s, BOND["r0"] + 10 * s, 20001)
    return _sample(rng, r, 2 * np.log(r) - BOND["k"] * (r - BOND["r0"]) ** 2 / KT, n)  # r² Jacobian


def sample_cos(rng, n):
    c = np.linspace(-1.0, 1.0, 20001)
    return _sample(rng, c, -ANGLE["k"] * (c - ANGLE["c0"]) ** 2 / KT, n)


def sample_phi(rng, n):
    phi = np.linspace(-np.pi, np.pi, 20001)
    return _sample(rng, phi, -_v_dih(phi) / KT, n)


def build_chain(r, cos_t, phi):
    """Chain coordinates (F, N, 3) with bond lengths r (F, N-1), cos θ (F, N-2) at beads 1..N-2 and
    dihedrals φ (F, N-3) of (i-3, i-2, i-1, i) (NeRF construction)."""
    F, N = r.shape[0], r.shape[1] + 1
    X = np.zeros((F, N, 3))
    X[:, 1, 0] = r[:, 0]
    th = np.arccos(cos_t[:, 0])
    X[:, 2] = X[:, 1] + r[:, 1, None] * np.stack([-np.cos(th), np.sin(th), np.zeros(F)], 1)
    for i in range(3, N):
        a, b, c = X[:, i - 3], X[:, i - 2], X[:, i - 1]
        bc = (c - b) / np.linalg.norm(c - b, axis=1, keepdims=True)
        n = np.cross(b - a, bc)
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        m = np.cross(n, bc)
        th, ph, rr = np.arccos(cos_t[:, i - 2]), phi[:, i - 3], r[:, i - 1]
        X[:, i] = (c + (-rr * np.cos(th))[:, None] * bc + (rr * np.sin(th) * np.cos(ph))[:, None] * m
                   + (rr * np.sin(th) * np.sin(ph))[:, None] * n)
    return X


def make_dataset(coords, z, train_idx=None):
    F, N = coords.shape[:2]
    return {"coords": np.asarray(coords, np.float32), "z": np.asarray(z, np.int64),
            "train_idx": np.arange(F) if train_idx is None else np.asarray(train_idx),
            "val_idx": np.zeros(0, np.int64), "bonds": chain_bonds(N), "periodic": np.asarray(False)}


@pytest.fixture(scope="module")
def synthetic():
    """4,000 frames of a 6-bead chain (types 1,2,1,2,1,2) with internal coordinates from the known
    potentials: 20,000 bond, 16,000 angle and 12,000 dihedral samples, each type tuple one group."""
    rng = np.random.default_rng(7)
    F, N = 4000, 6
    r = sample_bonds(rng, F * (N - 1)).reshape(F, N - 1)
    c = sample_cos(rng, F * (N - 2)).reshape(F, N - 2)
    p = sample_phi(rng, F * (N - 3)).reshape(F, N - 3)
    return {"r": r, "c": c, "phi": p, "coords": build_chain(r, c, p), "z": [1, 2, 1, 2, 1, 2]}


@pytest.fixture(scope="module")
def fitted(synthetic):
    return fit_prior("protein_ca", make_dataset(synthetic["coords"], synthetic["z"]), {}, T_K)


# ------------------------------------------------------------------------------ fitting accuracy

def test_fit_harmonic_bond_with_jacobian_recovers_parameters():
    x = sample_bonds(np.random.default_rng(1), 20000)
    fit = fit_harmonic(x, KT, jacobian_power=2)
    assert fit["method"] == "histogram"
    # without the r² Jacobian correction r0 comes out ≈ kT / (k r0) = 0.004 Å too long
    assert fit["x0"] == pytest.approx(BOND["r0"], abs=0.0015)
    assert fit["k"] == pytest.approx(BOND["k"], rel=0.025)


def test_fit_harmonic_cos_angle_recovers_parameters():
    x = sample_cos(np.random.default_rng(2), 20000)
    fit = fit_harmonic(x, KT)
    assert fit["method"] == "histogram"
    assert fit["x0"] == pytest.approx(ANGLE["c0"], abs=0.002)
    assert fit["k"] == pytest.approx(ANGLE["k"], rel=0.025)


def test_fit_fourier_recovers_coefficients():
    phi = sample_phi(np.random.default_rng(3), 20000)
    fit = fit_fourier(phi, KT, n_terms=2, n_bins=60)
    np.testing.assert_allclose(fit["k1"], DIH["k1"], atol=0.03)
    np.testing.assert_allclose(fit["k2"], DIH["k2"], atol=0.03)
    # a 3-term fit finds no third harmonic
    fit3 = fit_fourier(phi, KT, n_terms=3, n_bins=60)
    assert abs(fit3["k1"][2]) < 0.04 and abs(fit3["k2"][2]) < 0.04


def test_harmonic_fit_keeps_k_positive_with_few_or_non_convex_samples():
    rng = np.random.default_rng(4)
    few = fit_harmonic(rng.normal(3.8, 0.05, size=7), KT, jacobian_power=2)
    grid = np.linspace(-1, 1, 2001)
    concave = _sample(rng, grid, 2.0 * grid**2, 10000)  # p ∝ exp(2x²): -ln p is concave
    for fit in (few, concave_fit := fit_harmonic(concave, KT)):
        assert fit["method"] == "moments" and fit["k"] > 0
    assert concave_fit["k"] == pytest.approx(KT / (2 * concave.var()))
    assert concave_fit["x0"] == pytest.approx(concave.mean())
    assert few["n_samples"] == 7


def test_end_to_end_fit_on_chain_coordinates(synthetic, fitted):
    # the chain builder and the prior's geometry agree (this also pins the dihedral's sign)
    pos = torch.as_tensor(synthetic["coords"][:200])
    topo = {k: torch.as_tensor(v) for k, v in topology(chain_bonds(6), 6).items()}
    np.testing.assert_allclose(distances(pos, topo["bonds"]), synthetic["r"][:200], atol=1e-9)
    np.testing.assert_allclose(cos_angles(pos, topo["angles"]), synthetic["c"][:200], atol=1e-9)
    np.testing.assert_allclose(dihedral_angles(pos, topo["dihedrals"]), synthetic["phi"][:200], atol=1e-8)

    t = fitted.to_dict()["tables"]
    assert [e["types"] for e in t["bond"]["entries"]] == [[1, 2]]
    assert [e["types"] for e in t["angle"]["entries"]] == [[1, 2, 1], [2, 1, 2]]
    assert [e["types"] for e in t["dihedral"]["entries"]] == [[1, 2, 1, 2]]  # (2,1,2,1) is its reverse
    (b,), (d,) = t["bond"]["entries"], t["dihedral"]["entries"]
    assert b["n_samples"] == 20000 and d["n_samples"] == 12000
    assert b["x0"] == pytest.approx(BOND["r0"], abs=0.002) and b["k"] == pytest.approx(BOND["k"], rel=0.03)
    for a in t["angle"]["entries"]:
        assert a["n_samples"] == 8000
        assert a["x0"] == pytest.approx(ANGLE["c0"], abs=0.004)
        assert a["k"] == pytest.approx(ANGLE["k"], rel=0.04)
    np.testing.assert_allclose(d["k1"], DIH["k1"], atol=0.04)
    np.testing.assert_allclose(d["k2"], DIH["k2"], atol=0.04)
    # repulsion σ: minimum distance per type pair among pairs (i, j ≥ i+3) of the training frames
    X = synthetic["coords"]  # pairs (0,3) (1,4) (2,5) (0,5): types 1-2; (0,4): 1-1; (1,5): 2-2
    sig = {tuple(e["types"]): e["sigma"] for e in t["repulsion"]["entries"]}
    dist = {(i, j): np.linalg.norm(X[:, i] - X[:, j], axis=-1).min()
            for i in range(6) for j in range(i + 3, 6)}
    assert sig == pytest.approx({(1, 2): min(dist[0, 3], dist[1, 4], dist[2, 5], dist[0, 5]),
                                 (1, 1): dist[0, 4], (2, 2): dist[1, 5]})
    n_rep = {tuple(e["types"]): e["n_samples"] for e in t["repulsion"]["entries"]}
    assert n_rep == {(1, 1): 4000, (1, 2): 16000, (2, 2): 4000}
    rows = fitted.describe()
    assert {r["term"] for r in rows} == {"bond", "angle", "dihedral", "repulsion"}
    assert rows[0]["types"] == "ALA-CYS" and rows[0]["params"]["r0"] == b["x0"]
    assert all(set(r) == {"term", "types", "params", "n_samples"} for r in rows)
    json.dumps(rows)


def test_fit_uses_training_frames_only(synthetic):
    coords = synthetic["coords"][:1000].copy()
    coords[500:] *= 1.5  # validation frames with absurd geometry
    only_train = fit_prior("protein_ca", make_dataset(coords, synthetic["z"], np.arange(500)), {}, T_K)
    reference = fit_prior("protein_ca", make_dataset(coords[:500], synthetic["z"]), {}, T_K)
    assert only_train.to_dict()["tables"] == reference.to_dict()["tables"]


# ------------------------------------------------------------------------------ energies and forces

def _random_chain(rng, F, N):
    return build_chain(rng.uniform(3.6, 4.0, (F, N - 1)), rng.uniform(-0.6, 0.4, (F, N - 2)),
                       rng.uniform(-np.pi, np.pi, (F, N - 3)))


def test_forces_match_finite_differences_in_float64(fitted):
    rng = np.random.default_rng(5)
    N = 12
    z = rng.choice([1, 2], size=N)
    data = make_dataset(_random_chain(rng, 300, N), z)
    d = fit_prior("protein_ca", data, {"n_terms": 3}, T_K).to_dict()
    for e in d["tables"]["repulsion"]["entries"]:
        e["sigma"] = 6.5  # many (i, i+3) and (i, i+4) pairs lie below
    prior = ProteinCAPrior.from_dict(d).double()
    assert prior.bond_r0.dtype == torch.float64
    pos = torch.as_tensor(_random_chain(rng, 2, N))
    terms = prior.term_energies(pos)
    assert all(float(v.abs().min()) > 0 for v in terms.values()), terms  # all four terms active
    e, f = prior_energy_forces(prior, pos, None)
    torch.testing.assert_close(e, sum(terms.values()), rtol=1e-12, atol=1e-9)
    eps = 1e-5
    x = pos.reshape(2, 1, -1).repeat(1, 2 * 3 * N, 1)
    steps = torch.cat([torch.eye(3 * N), -torch.eye(3 * N)]).double() * eps
    with torch.no_grad():
        u = prior((x + steps).reshape(-1, N, 3), None).reshape(2, 2, 3 * N)
    fd = -(u[:, 0] - u[:, 1]) / (2 * eps)
    torch.testing.assert_close(f.reshape(2, -1), fd, rtol=1e-6, atol=1e-6)
    assert float(f.abs().max()) > 1.0  # a non-trivial check


def test_repulsion_zero_beyond_sigma_and_increasing_below():
    tables = {t: {"entries": [], "default": None} for t in ("bond", "angle", "dihedral")}
    tables["repulsion"] = {"entries": [{"types": [1, 2], "sigma": 4.0, "n_samples": 1}], "default": None}
    prior = ProteinCAPrior([1, 2], np.zeros((0, 2)), tables, k_rep=20.0).double()  # two unbonded beads
    r = torch.tensor([6.0, 4.5, 4.0 + 1e-9, 4.0, 3.9, 3.5, 3.0, 2.0], dtype=torch.float64)
    pos = torch.zeros(len(r), 2, 3, dtype=torch.float64)
    pos[:, 1, 0] = r
    u = prior(pos, None)
    assert torch.all(u[:4] == 0.0)
    assert torch.all(u[4:] > 0) and torch.all(torch.diff(u[3:]) > 0)
    torch.testing.assert_close(u[4:], 20.0 * (4.0 - r[4:]) ** 3)


def test_energy_is_vectorised_and_rejects_boxes(fitted):
    rng = np.random.default_rng(6)
    pos = torch.as_tensor(_random_chain(rng, 5, 6), dtype=torch.float32)
    batch = fitted(pos, None)
    single = torch.cat([fitted(pos[i:i + 1], None) for i in range(5)])
    torch.testing.assert_close(batch, single)
    with pytest.raises(ValueError, match="box"):
        fitted(pos, torch.full((3,), 50.0))
    with pytest.raises(ValueError, match="periodic"):
        fit_prior("protein_ca", {**make_dataset(pos.numpy(), [1] * 6), "periodic": np.asarray(True)}, {}, T_K)


# ------------------------------------------------------------------------------ serialisation, registry

def test_round_trip_through_json_and_torch_save(fitted):
    pos = torch.as_tensor(_random_chain(np.random.default_rng(8), 4, 6), dtype=torch.float32)
    d = prior_to_dict(fitted)
    assert d["kind"] == "protein_ca" and prior_to_dict(None) is None and prior_from_dict(None) is None
    via_json = prior_from_dict(json.loads(json.dumps(d)))
    buf = io.BytesIO()
    torch.save({"prior": d}, buf)
    buf.seek(0)
    via_torch = prior_from_dict(torch.load(buf, weights_only=False)["prior"])
    assert isinstance(via_torch, ProteinCAPrior) and isinstance(via_torch, Prior)
    e = fitted(pos, None)
    assert torch.equal(via_json(pos, None), e) and torch.equal(via_torch(pos, None), e)
    assert via_torch.to_dict() == fitted.to_dict()


def test_registry_errors():
    assert REGISTRY["protein_ca"] is ProteinCAPrior
    with pytest.raises(ValueError, match=r"unknown prior kind 'no_such_prior'.*protein_ca"):
        fit_prior("no_such_prior", {}, {}, T_K)
    with pytest.raises(ValueError, match=r"unknown prior kind 'gone'.*protein_ca"):
        prior_from_dict({"kind": "gone", "params": {}})
    with pytest.raises(ValueError, match="k_rpe"):
        fit_prior("protein_ca", make_dataset(np.zeros((2, 4, 3)), [1] * 4), {"k_rpe": 1.0}, T_K)


def test_unseen_types_use_the_documented_fallbacks(fitted):
    mutant = fitted.with_types([1, 2, 3, 2, 1, 2])  # bead 2: type 1 -> 3
    d = fitted.to_dict()["tables"]
    sig_min = min(e["sigma"] for e in d["repulsion"]["entries"])
    # pair (2, 5) has types 3-2, never seen: smallest σ over seen pairs
    k = [tuple(p) for p in mutant.pair_idx.tolist()].index((2, 5))
    assert float(mutant.pair_sigma[k]) == pytest.approx(sig_min)
    # bond (1, 2) has types 2-3, never seen: the pooled bond fit
    assert float(mutant.bond_r0[1]) == pytest.approx(d["bond"]["default"]["x0"])
    assert float(mutant.bond_r0[0]) == pytest.approx(d["bond"]["entries"][0]["x0"])


# ------------------------------------------------------------------------------ chirality

def test_dihedrals_distinguish_mirror_images():
    i = np.arange(10)
    helix = np.stack([2.3 * np.cos(np.radians(100) * i), 2.3 * np.sin(np.radians(100) * i), 1.5 * i], 1)
    quads = torch.as_tensor(topology(chain_bonds(10), 10)["dihedrals"])
    phi = dihedral_angles(torch.as_tensor(helix[None]), quads)
    np.testing.assert_allclose(np.degrees(phi.numpy()), 50.0, atol=3.0)  # right-handed α-helix: φ ≈ +50°

    rng = np.random.default_rng(9)
    frames = helix[None] + rng.normal(0, 0.15, (600, 10, 3))
    prior = fit_prior("protein_ca", make_dataset(frames, np.full(10, 8)), {}, T_K).double()
    pos = torch.as_tensor(np.stack([helix, helix * [-1.0, 1.0, 1.0]]))  # the helix and its mirror image
    e = prior(pos, None)
    terms = prior.term_energies(pos)
    for t in ("bond", "angle", "repulsion"):  # mirror-invariant terms agree
        torch.testing.assert_close(terms[t][0], terms[t][1])
    assert float(e[1] - e[0]) > 7 * 5 * KT  # > 5 kT per dihedral: the left-handed helix is disfavoured
    # the fitted dihedral potential has its minimum at the sampled angle, not in the unsampled region
    grid = torch.linspace(-math.pi, math.pi, 721, dtype=torch.float64)
    n = torch.arange(1, prior.n_terms + 1, dtype=torch.float64)
    v = (prior.dihedral_k1[0] * torch.sin(grid[:, None] * n)
         + prior.dihedral_k2[0] * torch.cos(grid[:, None] * n)).sum(-1)
    assert abs(math.degrees(float(grid[v.argmin()])) - 50.0) < 10.0
