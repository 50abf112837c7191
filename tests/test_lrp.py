"""GNN-LRP engine: fast path vs per-walk reference, γ-rule, conservation, invariances, aggregation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cgexplain.core.compat import spk
from cgexplain.core.geometry import connected_triplets, distance_matrix
from cgexplain.nn.models import CGPotential, ModelConfig
from cgexplain.relevance.aggregate import aggregate_frame
from cgexplain.relevance.engine import enumerate_walks, prepare, walk_relevance, walk_relevance_reference
from cgexplain.relevance.rules import gamma_dense, lrp_rules, rule_layers

torch.set_num_threads(2)
BOX = 9.0
CUT = 4.2


def positions(n=7, seed=0, dmin=1.6):
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, BOX, 3)
        if pos:
            d = np.asarray(pos) - p
            d -= BOX * np.round(d / BOX)
            if np.linalg.norm(d, axis=1).min() < dmin:
                continue
        pos.append(p)
    return torch.tensor(np.asarray(pos), dtype=torch.float64)


def model(arch, n=7, n_int=3, seed=0, z=None):
    torch.manual_seed(seed)
    cfg = ModelConfig(arch=arch, cutoff=CUT, n_atom_basis=8, n_interactions=n_int, n_rbf=6, lmax=2)
    pot = CGPotential(cfg, z=z if z is not None else [1] * n).double()
    with torch.no_grad():  # non-zero biases and less symmetric weights than the initialisation
        for p in pot.net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return pot.eval()


BOXT = torch.full((3,), BOX, dtype=torch.float64)


@pytest.fixture(scope="module", params=["painn", "so3net", "schnet"])
def case(request):
    pot = model(request.param, z=[1, 2, 1, 2, 1, 2, 1])
    pos = positions()
    res = walk_relevance(pot, pos, BOXT, gamma=0.1)
    return request.param, pot, pos, res


def test_graph_is_connected_enough(case):
    _, pot, pos, res = case
    assert res.n_edges >= 8  # the walks really go through message passing


def test_fast_equals_reference_every_walk(case):
    arch, pot, pos, res = case
    ref = walk_relevance_reference(pot, pos, BOXT, res.walks, gamma=0.1, batch=128)
    scale = np.abs(ref).max()
    assert scale > 0
    np.testing.assert_allclose(res.relevance, ref, rtol=0, atol=1e-9 * scale)
    rel_err = np.abs(res.relevance - ref) / np.maximum(np.abs(ref), 1e-300)
    big = np.abs(ref) > 1e-6 * scale
    assert rel_err[big].max() <= 1e-6, arch


def test_walk_set_is_all_walks(case):
    _, pot, pos, res = case
    P = prepare(pot, pos, BOXT)
    ref = enumerate_walks(P.n, P.idx_i.numpy(), P.idx_j.numpy(), 4)
    np.testing.assert_array_equal(res.walks, ref)
    # consecutive nodes are equal or neighbours
    adj = distance_matrix(pos.numpy(), np.full(3, BOX)) < CUT
    assert adj[res.walks[:, :-1], res.walks[:, 1:]].all()


def test_engine_energy_is_model_energy(case):
    _, pot, pos, res = case
    e = float(pot.energy(pos[None], BOXT).detach())
    assert res.energy == pytest.approx(e, rel=1e-12)


def test_rule_changes_relevance_but_not_energy(case):
    arch, pot, pos, res = case
    r0 = walk_relevance(pot, pos, BOXT, gamma=0.0)
    assert r0.energy == pytest.approx(res.energy, rel=1e-12)
    assert np.abs(r0.relevance - res.relevance).max() > 1e-8 * np.abs(res.relevance).max()


# ---------------------------------------------------------------------------------------------
# γ-rule
# ---------------------------------------------------------------------------------------------

def test_gamma_rule_against_formula():
    torch.manual_seed(3)
    W = torch.randn(5, 4, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64)
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    g = 0.3
    y = gamma_dense(x, W, b, F.silu, g)
    torch.testing.assert_close(y, F.silu(W @ x + b))
    c = torch.randn(5, dtype=torch.float64)
    (gx,) = torch.autograd.grad((y * c).sum(), x)
    # explicit: grad_x = Σ_k c_k a_k/d_k ∂n_k/∂x
    xd, Wn, bn = x.detach().numpy(), W.numpy(), b.numpy()
    a = F.silu(W @ x.detach() + b).numpy()
    xp, xm = np.maximum(xd, 0), np.minimum(xd, 0)
    Wp, Wm = np.maximum(Wn, 0), np.minimum(Wn, 0)
    expect = np.zeros(4)
    for k in range(5):
        if a[k] > 1e-6:
            A, B, bb = Wn[k] + g * Wp[k], Wn[k] + g * Wm[k], bn[k] + g * max(bn[k], 0)
            d = max(A @ xp + B @ xm, bb)
        elif a[k] < -1e-6:
            A, B, bb = Wn[k] + g * Wm[k], Wn[k] + g * Wp[k], bn[k] + g * min(bn[k], 0)
            d = min(A @ xp + B @ xm, bb)
        else:
            continue
        dn = np.where(xd > 0, A, B)  # ∂n/∂x
        expect += c[k].item() * a[k] / d * dn
    np.testing.assert_allclose(gx.numpy(), expect, rtol=1e-12, atol=1e-14)


def test_rule_context_applies_to_activated_dense_only_and_restores():
    pot = model("painn")
    layers = rule_layers(pot.net)
    # PaiNN: first layer of each context and mixing net, plus the hidden layer of the output MLP
    assert len(layers) == 2 * 3 + 1
    x = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    m = layers[0]
    y0 = m(x)
    with lrp_rules(pot.net, 0.1):
        y1 = m(x)
        (g1,) = torch.autograd.grad(y1.sum(), x)
    y2 = m(x)
    (g2,) = torch.autograd.grad(y2.sum(), x)
    torch.testing.assert_close(y0, y1)
    assert not torch.allclose(g1, g2)
    assert "forward" not in m.__dict__


# ---------------------------------------------------------------------------------------------
# conservation: ReLU, zero biases, γ = 0 -> Σ_walks R = E exactly
# ---------------------------------------------------------------------------------------------

def relu_schnet(n=7):
    torch.manual_seed(5)
    pot = CGPotential(ModelConfig(arch="schnet", cutoff=CUT, n_atom_basis=8, n_interactions=2,
                                  n_rbf=6), z=[1] * n).double()
    rep = spk.representation.SchNet(n_atom_basis=8, n_interactions=2,
                                    radial_basis=spk.nn.GaussianRBF(n_rbf=6, cutoff=CUT),
                                    cutoff_fn=spk.nn.CosineCutoff(CUT), activation=F.relu)
    pot.net = spk.model.NeuralNetworkPotential(
        representation=rep, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=8, output_key="energy", activation=F.relu)],
        do_postprocessing=False).double()
    with torch.no_grad():
        for name, p in pot.net.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            else:
                p.add_(0.2 * torch.randn_like(p))
        pot.net.representation.embedding.weight.abs_()  # some positive, some not after the net
    return pot.eval()


def test_conservation_relu_zero_bias_gamma0():
    pot = relu_schnet()
    pos = positions(seed=2)
    res = walk_relevance(pot, pos, BOXT, gamma=0.0)
    e = float(pot.energy(pos[None], BOXT).detach())
    assert abs(e) > 1e-3
    assert res.relevance.sum() == pytest.approx(e, rel=1e-10)
    # the γ-rule is conservative too when no bias absorbs relevance
    res2 = walk_relevance(pot, pos, BOXT, gamma=0.5)
    assert res2.relevance.sum() == pytest.approx(e, rel=1e-10)
    assert np.abs(res2.relevance - res.relevance).max() > 1e-6 * abs(e)
    # with biases, part of the energy is absorbed: the checks above are not tautologies
    with torch.no_grad():
        for name, p in pot.net.named_parameters():
            if name.endswith("bias"):
                p.add_(0.3)
    e3 = float(pot.energy(pos[None], BOXT).detach())
    res3 = walk_relevance(pot, pos, BOXT, gamma=0.0)
    assert abs(res3.relevance.sum() - e3) > 1e-3 * abs(e3)


# ---------------------------------------------------------------------------------------------
# invariances
# ---------------------------------------------------------------------------------------------

def _as_dict(res, perm=None):
    w = res.walks if perm is None else perm[res.walks]
    return {tuple(r): v for r, v in zip(w.tolist(), res.relevance)}


@pytest.mark.parametrize("arch", ["painn", "so3net"])
def test_translation_and_90deg_rotation_periodic(arch):
    pot = model(arch)
    pos = positions(seed=1)
    base = walk_relevance(pot, pos, BOXT, gamma=0.1)
    shifted = torch.remainder(pos + torch.tensor([3.1, -1.7, 5.3], dtype=torch.float64), BOX)
    rot = torch.stack([BOX - pos[:, 1], pos[:, 0], pos[:, 2]], dim=1)  # 90° about z, cubic box
    scale = np.abs(base.relevance).max()
    for p in (shifted, rot):
        r = walk_relevance(pot, p, BOXT, gamma=0.1)
        np.testing.assert_array_equal(r.walks, base.walks)
        np.testing.assert_allclose(r.relevance, base.relevance, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("arch", ["painn", "so3net", "schnet"])
def test_arbitrary_rotation_open_boundaries(arch):
    pot = model(arch)
    pos = positions(seed=4) * 0.6  # compact cluster, open boundaries
    base = walk_relevance(pot, pos, None, gamma=0.1)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(9)))
    r = walk_relevance(pot, pos @ q.T + 2.0, None, gamma=0.1)
    np.testing.assert_array_equal(r.walks, base.walks)
    np.testing.assert_allclose(r.relevance, base.relevance, rtol=0,
                               atol=1e-9 * np.abs(base.relevance).max())


def test_permutation_of_beads():
    z = [1, 2, 1, 2, 1, 2, 1]
    pot = model("so3net", z=z)
    pos = positions(seed=6)
    base = walk_relevance(pot, pos, BOXT, gamma=0.1)
    perm = np.array([3, 0, 6, 5, 1, 2, 4])  # new index k holds old bead perm[k]
    inv = np.argsort(perm)
    pot2 = model("so3net", z=[z[k] for k in perm])
    pot2.net.load_state_dict(pot.net.state_dict())
    r = walk_relevance(pot2, pos[perm], BOXT, gamma=0.1)
    a, b = _as_dict(base), _as_dict(r, perm=perm)
    assert a.keys() == b.keys()
    scale = np.abs(base.relevance).max()
    assert max(abs(a[k] - b[k]) for k in a) < 1e-9 * scale
    # relabelling without permuting the types is a different system: the check has teeth
    pot3 = model("so3net", z=z)
    pot3.net.load_state_dict(pot.net.state_dict())
    c = _as_dict(walk_relevance(pot3, pos[perm], BOXT, gamma=0.1), perm=perm)
    assert max(abs(a[k] - c[k]) for k in a) > 1e-6 * scale
    assert (z[perm[inv[0]]]) == z[0]


# ---------------------------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------------------------

def test_aggregates(case):
    _, pot, pos, res = case
    p = pos.numpy()
    agg = aggregate_frame(res.walks, res.relevance, p, np.full(3, BOX), len(p))
    total = res.relevance.sum()
    assert agg["total"] == pytest.approx(total)
    assert agg["order_totals"].sum() == pytest.approx(total, rel=1e-12)
    assert agg["r1"].sum() == pytest.approx(agg["order_totals"][0], rel=1e-12)
    assert agg["pair_r"].sum() == pytest.approx(agg["order_totals"][1], rel=1e-12)
    assert agg["trip_r"].sum() == pytest.approx(agg["order_totals"][2], rel=1e-12)
    assert agg["walk2_r"].sum() == pytest.approx(agg["order_totals"][1], rel=1e-12)
    assert agg["n_walks"] == len(res.walks)
    assert agg["norm"] == pytest.approx(abs(total) / len(res.walks))
    # pairs: exactly the bonded pairs; a pair outside every walk gets no relevance
    dm = distance_matrix(p, np.full(3, BOX))
    i, j = np.triu_indices(len(p), 1)
    bonded = {(a, b) for a, b in zip(i, j) if dm[a, b] < CUT}
    got = set(zip(agg["pair_i"].tolist(), agg["pair_j"].tolist()))
    assert got == bonded and len(bonded) < len(i)
    np.testing.assert_allclose(agg["pair_dist"], dm[agg["pair_i"], agg["pair_j"]])
    # one pair by hand: walks whose node set is exactly {a, b}
    a, b = sorted(bonded)[0]
    sel = [set(w) == {a, b} for w in res.walks.tolist()]
    k = np.flatnonzero((agg["pair_i"] == a) & (agg["pair_j"] == b))[0]
    assert agg["pair_r"][k] == pytest.approx(res.relevance[sel].sum(), rel=1e-12)
    assert sum(sel) == 2 ** 4 - 2
    # triplets: exactly the connected ones, with their geometry
    trips = connected_triplets(p, np.full(3, BOX), CUT)
    got3 = np.stack([agg["trip_i"], agg["trip_j"], agg["trip_k"]], 1)
    np.testing.assert_array_equal(got3, trips)
    assert (agg["trip_theta"] >= 60 - 1e-9).all() and (agg["trip_theta"] <= 180).all()
    assert (agg["trip_L"] >= agg["trip_b"] - 1e-9).all()
