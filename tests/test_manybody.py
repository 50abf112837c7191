"""Many-body decomposition of a potential into isolated 2- and 3-body terms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cgexplain.baselines import manybody
from cgexplain.core.geometry import minimum_image
from cgexplain.data.dataset import write_dataset
from torch import nn

RC = 5.0


def phi(r):
    """A smooth pair function that vanishes at the cut-off (works for numpy and torch)."""
    lib = torch if isinstance(r, torch.Tensor) else np
    return 0.5 * (lib.cos(np.pi * r / RC) + 1.0) * (20.0 / r ** 4 - 1.0)


def psi(rij, rik, rjk):
    w = lambda r: torch.clamp(1.0 - r / RC, min=0.0) ** 2
    return 3.0 * w(rij) * w(rik) * w(rjk) + 0.0 * rij


class PairSum(nn.Module):
    """E = Σ_i c + Σ_{i<j, r<RC} φ(r_ij) (+ Σ_{i<j<k} ψ if ``three``), same interface as CGPotential."""

    def __init__(self, three: bool = False):
        super().__init__()
        self.cutoff = RC
        self.three = three

    def energy(self, pos, box):
        d = pos[:, None, :, :] - pos[:, :, None, :]
        if box is not None:
            b = torch.as_tensor(box, dtype=pos.dtype)
            d = d - b * torch.round(d / b)
        N = pos.shape[1]
        r = torch.sqrt((d * d).sum(-1) + torch.eye(N, dtype=pos.dtype))
        mask = torch.triu(torch.ones(N, N, dtype=torch.bool), 1) & (r < RC)
        e = torch.where(mask, phi(r), torch.zeros_like(r)).sum((1, 2)) + 0.7 * N
        if self.three and N >= 3:
            for i in range(N):
                for j in range(i + 1, N):
                    for k in range(j + 1, N):
                        e = e + psi(r[:, i, j], r[:, i, k], r[:, j, k])
        return e


def liquid(n=24, box=12.0, seed=0):
    rng = np.random.default_rng(seed)
    g = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    pos = g * (box / 3) + rng.normal(scale=0.6, size=(n, 3))
    return np.mod(pos, box), np.array([box] * 3)


def test_pair_model_has_no_three_body_terms_and_exact_two_body():
    pos, box = liquid()
    res = manybody.decompose(PairSum(), pos[None], box, np.full(len(pos), 6), RC, max_trimers=150, seed=1)
    assert len(res["pair_e2"]) > 20 and len(res["trimer_e3"]) == 150
    np.testing.assert_allclose(res["pair_e2"], phi(res["pair_r"]), atol=1e-10)
    np.testing.assert_allclose(res["monomer_e"], 0.7, atol=1e-12)
    assert np.max(np.abs(res["trimer_e3"])) < 1e-10
    # the pairs are exactly those within the cut-off under minimum image
    d = minimum_image(pos[None] - pos[:, None], box)
    r = np.sqrt((d * d).sum(-1))
    assert len(res["pair_e2"]) == int(np.sum(np.triu(r < RC, 1)))
    np.testing.assert_allclose(res["scan_e2"], phi(res["scan_r"]), atol=1e-10)
    # binned curve follows the pair function
    ok = res["e2_count"] > 0
    assert np.all(np.abs(res["e2_mean"][ok] - phi(res["r_centres"][ok])) < 0.5 * np.abs(phi(res["r_centres"][ok])) + 0.5)


def test_three_body_term_recovered_by_inclusion_exclusion():
    pos, box = liquid(seed=3)
    res = manybody.decompose(PairSum(three=True), pos[None], box, np.full(len(pos), 8), RC,
                             max_trimers=60, seed=2)
    np.testing.assert_allclose(res["pair_e2"], phi(res["pair_r"]), atol=1e-10)
    # expected ψ on the unwrapped triangle (its three edges: a, b, L)
    expect = psi(torch.as_tensor(res["trimer_a"]), torch.as_tensor(res["trimer_b"]),
                 torch.as_tensor(res["trimer_L"])).numpy()
    np.testing.assert_allclose(res["trimer_e3"], expect, atol=1e-10)
    assert np.max(np.abs(res["trimer_e3"])) > 1e-3  # the test is not vacuous
    assert np.all((res["trimer_theta"] >= 60 - 1e-9) & (res["trimer_theta"] <= 180))
    assert np.all(res["trimer_L"] >= res["trimer_b"] - 1e-9)


def test_trimers_sampled_with_seed_and_capped():
    pos, box = liquid(seed=5)
    a = manybody.decompose(PairSum(), pos[None], box, np.full(len(pos), 6), RC, max_trimers=40, seed=7)
    b = manybody.decompose(PairSum(), pos[None], box, np.full(len(pos), 6), RC, max_trimers=40, seed=7)
    c = manybody.decompose(PairSum(), pos[None], box, np.full(len(pos), 6), RC, max_trimers=40, seed=8)
    assert len(a["trimer_idx"]) == 40
    np.testing.assert_array_equal(a["trimer_idx"], b["trimer_idx"])
    assert not np.array_equal(a["trimer_idx"], c["trimer_idx"])


def test_real_cgpotential_nmers_and_cli(tmp_path):
    from cgexplain.nn.models import CGPotential, ModelConfig, save_potential

    torch.manual_seed(0)
    pot = CGPotential(ModelConfig(arch="schnet", cutoff=RC, n_atom_basis=8, n_interactions=1, n_rbf=6),
                      z=[8] * 24).double().eval()
    pos, box = liquid(seed=4)
    # an isolated dimer through the z swap equals a 2-bead model evaluated directly
    e = manybody.nmer_energies(pot, np.array([[[0, 0, 0], [3.1, 0, 0]]]), np.array([[8, 8]]))
    pot2 = CGPotential(pot.cfg, z=[8, 8]).double().eval()
    pot2.net.load_state_dict(pot.net.state_dict())
    with torch.no_grad():
        e_ref = pot2.energy(torch.tensor([[[0, 0, 0], [3.1, 0, 0]]], dtype=torch.float64), None)
    assert e[0] == pytest.approx(float(e_ref[0]), abs=1e-10)
    assert pot.z.numel() == 24  # restored after the n-mer evaluation
    # command line on a tiny dataset
    save_potential(tmp_path / "model.pt", pot)
    coords = np.stack([pos, np.mod(pos + 0.3, box)]).astype(np.float32)
    write_dataset(tmp_path / "ds.npz", coords=coords, forces=np.zeros_like(coords), box=np.tile(box, (2, 1)),
                  z=np.full(24, 8), masses=np.full(24, 18.0), train_idx=[0], val_idx=[1])
    rc = manybody.main(["--model", str(tmp_path / "model.pt"), "--dataset", str(tmp_path / "ds.npz"),
                        "--out", str(tmp_path / "mb.npz"), "--n-frames", "1", "--max-trimers-per-frame", "30",
                        "--device", "cpu", "--r-bins", "10", "--theta-bins", "6", "--L-bins", "5"])
    assert rc == 0
    r = np.load(tmp_path / "mb.npz")
    assert r["frames"].shape == (1,) and r["monomer_e"].shape == (1, 24)
    assert r["e2_mean"].shape == (10,) and r["e3_mean"].shape == (6, 5)
    assert len(r["trimer_e3"]) == 30 and np.all(np.isfinite(r["trimer_e3"]))
    assert float(r["cutoff"]) == RC


def test_truth_decomposition_of_mw_is_exact():
    """The exact answer for mW: 2-body of a dimer = φ2(r), 3-body of a trimer = the φ3 terms of its centres."""
    from cgexplain.baselines.manybody import TruthPotential, decompose
    from cgexplain.systems import groundtruth as gt
    from cgexplain.systems.mw_water import CUTOFF_A, MW, box_edge_A, lattice_positions

    L = box_edge_A(64)
    x = lattice_positions(64, L, np.random.default_rng(3), jitter_A=0.8)
    pot = TruthPotential("mw_water", {"md": {"n_molecules": 64}}, cutoff=5.0)
    res = decompose(pot, x[None], np.full(3, L), np.full(64, 8), 5.0, max_trimers=60, seed=1)
    p = MW
    phi2 = lambda r: gt.e_sw2(np.stack([np.zeros((len(r), 3)), np.c_[r, np.zeros((len(r), 2))]], 1),
                              p["eps"], p["sigma"], p["a"], p["A"], p["B"], p["p"], p["q"])
    assert len(res["pair_e2"]) > 50 and (res["pair_r"] < CUTOFF_A).any() and (res["pair_r"] > CUTOFF_A).any()
    assert np.allclose(res["pair_e2"], phi2(res["pair_r"]), atol=1e-9)
    assert np.allclose(res["scan_e2"], phi2(res["scan_r"]), atol=1e-9)
    sw3 = lambda c, j, k: gt.e_sw3(np.stack([c, j, k])[None], p["eps"], p["sigma"], p["a"], p["lam"], p["gamma"],
                                   p["cos0"])[0]
    assert len(res["trimer_e3"]) > 20 and np.abs(res["trimer_e3"]).max() > 0.01
    for (i, j, k), e3, f in zip(res["trimer_idx"], res["trimer_e3"], res["trimer_frame"]):
        mi = lambda u, v: v - u - L * np.round((v - u) / L)  # minimum image u -> v
        ids = [i, j, k]
        centre = next(q for q in ids if all(np.linalg.norm(mi(x[q], x[o])) < 5.0 for o in ids if o != q))
        a, b, c = (x[centre] + mi(x[centre], x[q]) for q in ids)
        want = sw3(a, b, c) + sw3(b, a, c) + sw3(c, a, b)
        assert e3 == pytest.approx(want, abs=1e-8)
