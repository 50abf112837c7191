"""Each architecture adapter's interaction step must carry the exact gradient of its scalar output with
respect to its scalar input (the explained channel), the other channels held constant. Checked against
central finite differences, independently of the walk engine: a step that computes the right value but
drops part of the graph (e.g. neighbour messages) fails here."""

import pytest
import torch
from cgexplain.nn.models import CGPotential, ModelConfig
from cgexplain.relevance.adapters import adapter_for


@pytest.mark.parametrize("arch", ["painn", "so3net", "schnet"])
def test_step_gradient_matches_finite_differences(arch):
    """PaiNN detaches its vector features inside the step as well (the published choice), so the
    finite-difference comparison applies to SchNet and SO3net; the neighbour check applies to all."""
    torch.manual_seed(1)
    n = 7
    pot = CGPotential(ModelConfig(arch, cutoff=4.0, n_atom_basis=6, n_interactions=2, n_rbf=5), [8] * n).double()
    for p in pot.parameters():  # no exactly-zero layers (SchNetPack zero-initialises some biases)
        p.data += 0.05 * torch.randn_like(p)
    pos = torch.rand(1, n, 3, dtype=torch.float64) * 8.0
    box = torch.tensor([9.0, 9.0, 9.0], dtype=torch.float64)
    inp = pot.net.input_modules[0](pot.inputs(pos, box))
    ad = adapter_for(pot.net)
    edge = ad.prepare(inp)
    idx_i, idx_j = inp["_idx_i"], inp["_idx_j"]
    h, aux = ad.embed(inp)
    for t in range(ad.n_layers):
        h = h.detach().requires_grad_(True)
        aux = aux.detach() if torch.is_tensor(aux) else aux
        out, aux_next = ad.step(t, h, aux, edge, idx_i, idx_j, n)
        u, v = torch.randn_like(out), torch.randn_like(h)
        (g,) = torch.autograd.grad((out * u).sum(), h, retain_graph=True)
        eps = 1e-6
        with torch.no_grad():
            plus = ad.step(t, h + eps * v, aux, edge, idx_i, idx_j, n)[0]
            minus = ad.step(t, h - eps * v, aux, edge, idx_i, idx_j, n)[0]
        fd = ((plus - minus) * u).sum() / (2 * eps)
        if arch != "painn":
            assert float((g * v).sum()) == pytest.approx(float(fd), rel=1e-6, abs=1e-9), (arch, t)
        # neighbours matter: the output of bead 0 depends on the input of some other bead
        (g0,) = torch.autograd.grad(out[0].sum(), h, allow_unused=True)
        assert g0[1:].abs().sum() > 0, (arch, t)
        h, aux = out, aux_next


@pytest.mark.parametrize("arch", ["painn", "so3net", "schnet"])
def test_many_body_walks_carry_relevance(arch):
    from cgexplain.relevance.engine import walk_relevance

    torch.manual_seed(0)
    pot = CGPotential(ModelConfig(arch, cutoff=4.0, n_atom_basis=8, n_interactions=2, n_rbf=6), [8] * 8).double()
    x = torch.rand(8, 3, dtype=torch.float64) * 9.0
    r = walk_relevance(pot, x, torch.tensor([9.0, 9.0, 9.0], dtype=torch.float64), 0.1)
    rel = torch.as_tensor(r.relevance)
    order = torch.tensor([len(set(w.tolist())) for w in torch.as_tensor(r.walks)])
    for k in (2, 3):
        assert rel[order == k].abs().sum() > 1e-8, (arch, k)
