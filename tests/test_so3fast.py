"""cgexplain.nn.so3fast computes SchNetPack's SO3net exactly (energies, forces, parameter gradients, state dicts).

The reference is always a stock ``spk.representation.SO3net`` network built here independently of
``cgexplain.nn.models.build_network``, loaded with the same (randomly perturbed) weights.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from cgexplain.core.compat import spk
from cgexplain.nn import so3fast
from cgexplain.nn.models import CGPotential, ModelConfig
from torch.autograd import gradcheck, gradgradcheck

torch.set_num_threads(2)
BOX = 9.5
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def stock_network(cfg: ModelConfig) -> torch.nn.Module:
    """SchNetPack's own SO3net potential with the architecture of ``cfg`` (no cgexplain layers)."""
    rep = spk.representation.SO3net(
        n_atom_basis=cfg.n_atom_basis, n_interactions=cfg.n_interactions, lmax=cfg.lmax,
        radial_basis=spk.nn.GaussianRBF(n_rbf=cfg.n_rbf, cutoff=cfg.cutoff),
        cutoff_fn=spk.nn.CosineCutoff(cfg.cutoff), max_z=cfg.max_z)
    return spk.model.NeuralNetworkPotential(
        representation=rep, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=cfg.n_atom_basis, output_key="energy")],
        do_postprocessing=False)


def pair(lmax: int, dtype, n: int = 16, seed: int = 0):
    """(project potential, stock potential) with identical, perturbed weights (SchNetPack zero-initialises
    some layers, which would hide terms)."""
    torch.manual_seed(seed)
    cfg = ModelConfig("so3net", cutoff=4.5, n_atom_basis=8, n_interactions=2, n_rbf=6, lmax=lmax)
    z = [1 + k % 3 for k in range(n)]
    fast = CGPotential(cfg, z)
    with torch.no_grad():
        for p in fast.net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    stock = CGPotential(cfg, z)
    stock.net = stock_network(cfg)
    stock.net.load_state_dict(fast.net.state_dict())  # strict: the same keys and shapes
    assert isinstance(fast.net.representation, so3fast.SO3net)
    assert type(stock.net.representation) is spk.representation.SO3net
    return fast.to(dtype), stock.to(dtype)


def frames(periodic: bool, dtype, n: int = 16, batch: int = 2, seed: int = 1):
    """Random configurations: beads at least 1.8 Å apart in the box (periodic) or in a cluster (open)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batch):
        pos = []
        while len(pos) < n:
            p = rng.uniform(0, BOX if periodic else 6.0, 3)
            d = np.asarray(pos) - p if pos else np.zeros((0, 3))
            if periodic:
                d -= BOX * np.round(d / BOX)
            if not pos or np.linalg.norm(d, axis=1).min() > 1.8:
                pos.append(p)
        out.append(pos)
    box = torch.full((3,), BOX, dtype=dtype) if periodic else None
    return torch.tensor(np.asarray(out), dtype=dtype), box


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max() / b.detach().abs().max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lmax", [1, 2])
@pytest.mark.parametrize("periodic", [True, False])
def test_energies_forces_and_parameter_gradients_equal_schnetpack(lmax, dtype, periodic):
    fast, stock = pair(lmax, dtype)
    pos, box = frames(periodic, dtype)
    f_ref = torch.randn_like(pos)
    out = {}
    for name, pot in (("fast", fast), ("stock", stock)):
        e, f = pot(pos, box, create_graph=True)
        loss = ((f - f_ref) ** 2).mean() + 0.1 * (e ** 2).mean()  # force matching (+ energy: every path)
        params = [p for p in pot.net.parameters()]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        out[name] = (e.detach(), f.detach(), dict(zip([k for k, _ in pot.net.named_parameters()], grads)))
    (e1, f1, g1), (e0, f0, g0) = out["fast"], out["stock"]
    assert e0.abs().max() > 0 and f0.abs().max() > 0
    assert rel(e1, e0) <= TOL[dtype] and rel(f1, f0) <= TOL[dtype]
    assert g1.keys() == g0.keys()
    compared = 0
    for k in g0:
        if g0[k] is None:
            assert g1[k] is None, k
            continue
        assert rel(g1[k], g0[k]) <= 10 * TOL[dtype], k
        compared += 1
    assert compared >= 10


def test_state_dict_is_stock_schnetpack_both_ways():
    fast, stock = pair(2, torch.float64, seed=3)
    assert list(fast.net.state_dict()) == list(stock.net.state_dict())
    for k, v in fast.net.state_dict().items():
        assert v.shape == stock.net.state_dict()[k].shape, k
    pos, box = frames(True, torch.float64, seed=4)
    # a model trained with the fast layers runs in stock SchNetPack, and the other way round
    other = stock_network(fast.cfg).double()
    other.load_state_dict(fast.net.state_dict())
    inputs = fast.inputs(pos, box)
    e_stock = other(dict(inputs))["energy"]
    e_fast = fast.net(dict(inputs))["energy"]
    assert rel(e_fast.detach(), e_stock.detach()) <= 1e-10
    back = CGPotential(fast.cfg, fast.z.tolist()).double()
    back.net.load_state_dict(other.state_dict())
    assert rel(back.energy(pos, box).detach(), e_stock.detach().reshape(-1)) <= 1e-10


def test_accelerate_converts_a_stock_network_in_place():
    fast, stock = pair(2, torch.float64, seed=5)
    pos, box = frames(False, torch.float64, seed=6)
    e0, f0 = stock(pos, box)
    keys = list(stock.net.state_dict())
    rep = so3fast.accelerate(stock.net.representation)
    assert rep is stock.net.representation and isinstance(rep, so3fast.SO3net)
    assert type(rep).__name__ == "SO3net"  # the relevance engine picks adapters by this name
    assert list(stock.net.state_dict()) == keys
    e1, f1 = stock(pos, box)
    assert rel(e1, e0) <= 1e-10 and rel(f1, f0) <= 1e-10
    with pytest.raises(TypeError):
        so3fast.accelerate(torch.nn.Linear(2, 2))


def test_training_copies_and_moving_average_keep_the_function():
    """Training deep-copies the model into an EMA that averages the buffers too (decay 0.995 as in
    config/config.yaml): the dense coupling buffers must come through unchanged."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    fast, _ = pair(2, torch.float32, seed=7)
    pos, box = frames(True, torch.float32, seed=8)
    ema = AveragedModel(fast, multi_avg_fn=get_ema_multi_avg_fn(0.995), use_buffers=True)
    for _ in range(3):
        ema.update_parameters(fast)
    for conv, conv_ema in zip(fast.net.representation.so3convs, ema.module.net.representation.so3convs):
        assert torch.equal(conv.coupling, conv_ema.coupling)
    torch.testing.assert_close(ema.module(pos, box)[1], fast(pos, box)[1])
    clone = copy.deepcopy(fast)
    torch.testing.assert_close(clone(pos, box)[1], fast(pos, box)[1])


@pytest.mark.parametrize("lmax", [1, 2, 3])
def test_spherical_harmonics_and_their_derivatives(lmax):
    stock = spk.nn.RealSphericalHarmonics(lmax).double()
    fast = copy.deepcopy(stock)
    fast.__class__ = so3fast.RealSphericalHarmonics
    gen = torch.Generator().manual_seed(10 + lmax)
    d = torch.nn.functional.normalize(torch.randn(300, 3, dtype=torch.float64, generator=gen), dim=1)
    d[0] = torch.tensor([0.0, 0.0, 1.0])
    d[1] = torch.tensor([0.0, -1.0, 0.0])
    d.requires_grad_(True)
    u = torch.randn(300, (lmax + 1) ** 2, dtype=torch.float64, generator=gen)
    grads = []
    for m in (stock, fast):
        y = m(d)
        (g,) = torch.autograd.grad((y * u).sum(), d, create_graph=True)
        (h,) = torch.autograd.grad((g ** 2).sum(), d)
        grads.append((y, g, h))
    for a, b in zip(grads[1], grads[0]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    # single precision: SchNetPack's rounded coefficients, the same function to rounding
    y32 = fast.float()(d.detach().float())
    assert rel(y32, grads[0][0].detach()) < 1e-6


def test_tensor_product_equals_schnetpack():
    torch.manual_seed(2)
    stock = spk.nn.SO3TensorProduct(2).double()
    fast = so3fast.SO3TensorProduct(2).double()
    x1, x2 = torch.randn(2, 11, 9, 5, dtype=torch.float64)
    torch.testing.assert_close(fast(x1, x2), stock(x1, x2), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("lmax,n_in,first", [(1, 4, 0), (1, 3, 1), (2, 1, 0), (2, 9, 0), (2, 8, 1)])
def test_fused_convolution_derivatives(lmax, n_in, first, monkeypatch):
    """First and second derivatives of the fused convolution (all three code paths) against finite
    differences, with chunks of a few edges so that the chunking is exercised."""
    monkeypatch.setattr(so3fast, "CHUNK_BYTES", 1024)
    torch.manual_seed(lmax + n_in)
    S, L, F, E, N = (lmax + 1) ** 2, lmax + 1, 2, 11, 4
    coupling = so3fast.SO3Convolution(lmax, F, 2).coupling.double()
    Y = torch.randn(E, S, dtype=torch.float64, requires_grad=True)
    W = torch.randn(E, L * F, dtype=torch.float64, requires_grad=True)
    x = torch.randn(N, n_in, F, dtype=torch.float64, requires_grad=True)
    idx_i, idx_j = torch.randint(0, N, (E,)), torch.randint(0, N, (E,))

    def conv(Y, W, x, fused=True):
        return so3fast.so3_convolution(coupling, x, W, Y, idx_i, idx_j, N, first, fused=fused)

    A = torch.einsum("ea,aslk->eslk", Y, coupling[..., first:first + n_in])
    ref = torch.zeros(N, S, F, dtype=torch.float64).index_add(
        0, idx_i, torch.einsum("eslk,elf,ekf->esf", A, W.view(E, L, F), x[idx_j]))
    torch.testing.assert_close(conv(Y, W, x), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(conv(Y, W, x, fused=False), ref, rtol=1e-12, atol=1e-12)
    assert gradcheck(conv, (Y, W, x), fast_mode=True)
    assert gradgradcheck(conv, (Y, W, x), fast_mode=True)


@pytest.mark.parametrize("lmax,n_in,first", [(2, 1, 0), (2, 9, 0), (2, 8, 1)])
def test_third_derivatives_equal_the_plain_implementation(lmax, n_in, first, monkeypatch):
    """The fused second derivatives are themselves differentiable (nothing is silently dropped)."""
    monkeypatch.setattr(so3fast, "CHUNK_BYTES", 64 * 8)
    torch.manual_seed(0)
    S, L, F = (lmax + 1) ** 2, lmax + 1, 2
    coupling = so3fast.SO3Convolution(lmax, F, 2).coupling.double()
    Y = torch.randn(7, S, dtype=torch.float64, requires_grad=True)
    W = torch.randn(7, L * F, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, n_in, F, dtype=torch.float64, requires_grad=True)
    ii, jj = torch.randint(0, 3, (7,)), torch.randint(0, 3, (7,))
    out = []
    for fused in (True, False):
        y = so3fast.so3_convolution(coupling, x, W, Y, ii, jj, 3, first, fused=fused)
        (g,) = torch.autograd.grad(y.pow(2).sum(), Y, create_graph=True)
        (h,) = torch.autograd.grad(g.pow(2).sum(), W, create_graph=True)
        out.append(torch.autograd.grad(h.pow(2).sum(), (x, Y, W)))
    for a, b in zip(*out):
        assert b.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12 * float(b.abs().max()))


@pytest.mark.parametrize("system,n_beads,box_A", [("methane", 125, 19.7), ("water", 258, 19.7)])
def test_lite_tier_runs_so3net_at_painns_size(system, n_beads, box_A):
    """Issue 11: with the fast layers the lite tier gives SO3net PaiNN's width, depth, training frames and
    epochs, and the same CG simulation (the shipped config files, merged as the workflow merges them); and
    that network, built as training builds it, runs on a frame of the liquid's size: energies, forces and
    a force-matching gradient through the fast layers equal to stock SchNetPack's."""
    from pathlib import Path

    from cgexplain.core.config import merge_config_files, stage_params
    from cgexplain.train import model_config

    root = Path(__file__).resolve().parents[1] / "config"
    cfg = merge_config_files(root / "config.yaml", root / "lite.yaml")
    models = cfg["systems"][system]["models"]
    for key in ("n_atom_basis", "n_interactions", "n_rbf"):
        assert models["so3net"][key] == models["painn"][key], key
    for section in ("train", "simulate"):
        so3, painn = (stage_params(cfg, section, system, m) for m in ("so3net", "painn"))
        assert so3 == painn, (section, {k: (so3.get(k), painn.get(k)) for k in so3.keys() | painn.keys()
                                        if so3.get(k) != painn.get(k)})

    mc = model_config("so3net", models["so3net"])
    assert (mc.n_atom_basis, mc.n_interactions, mc.n_rbf) == tuple(models["painn"][k] for k in
                                                                   ("n_atom_basis", "n_interactions", "n_rbf"))
    torch.manual_seed(20)
    z = [6 if system == "methane" else 8] * n_beads
    fast = CGPotential(mc, z)
    with torch.no_grad():
        for p in fast.net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    assert isinstance(fast.net.representation, so3fast.SO3net)
    stock = CGPotential(mc, z)
    stock.net = stock_network(mc)
    stock.net.load_state_dict(fast.net.state_dict())
    # a liquid-like frame: beads on distinct sites of a 7³ grid in the box, jittered (seeded)
    rng = np.random.default_rng(21)
    grid = np.stack(np.meshgrid(*[np.arange(7)] * 3, indexing="ij"), -1).reshape(-1, 3)
    sites = grid[rng.choice(len(grid), n_beads, replace=False)] * (box_A / 7)
    pos = torch.tensor(sites + rng.normal(scale=0.3, size=sites.shape), dtype=torch.float32)[None]
    box = torch.full((3,), box_A, dtype=torch.float32)
    f_ref = torch.tensor(rng.normal(size=(1, n_beads, 3)), dtype=torch.float32)
    e1, f1 = fast(pos, box, create_graph=True)  # a training step's graph: forces, then the weights' gradient
    grads = torch.autograd.grad(((f1 - f_ref) ** 2).mean(), list(fast.net.parameters()), allow_unused=True)
    grads = [g for g in grads if g is not None]
    assert len(grads) >= 10 and all(torch.isfinite(g).all() for g in grads) and max(g.abs().max() for g in grads) > 0
    e0, f0 = stock(pos, box)
    assert torch.isfinite(f1).all() and f0.abs().max() > 0
    assert rel(e1.detach(), e0) <= 1e-4 and rel(f1.detach(), f0) <= 1e-4
