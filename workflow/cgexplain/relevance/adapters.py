"""Per-architecture adapters: how the walk engine sees a SchNetPack representation.

The engine needs only four things from an architecture, all on one structure (N nodes, E edges):

* ``prepare(inputs)`` → dict of per-edge tensors (first dimension E) that the interactions read
  (filters, directions, radial features); node-independent, no gradient.
* ``embed(inputs)`` → ``(h0, aux0)``: the explained node features after the embedding (N, F) and the
  architecture's extra state that is *not* explained (PaiNN vectors, SO3net l > 0 channels; None
  for SchNet).
* ``step(t, h, aux, edge, idx_i, idx_j, n_nodes, n_out=None)`` → ``(h_t, aux_t)``: interaction t
  (0-based) on any graph given as edge lists; gradient flows only through ``h`` (``aux`` is held
  constant). ``edge`` holds the rows of the ``prepare`` tensors for the given edges. Only the first
  ``n_out`` output rows are needed (all edges point into them); adapters may skip the others.
* ``head(h)`` → per-node energy (N,) of the atomwise output module.

A new SchNetPack architecture is supported by writing one such adapter (~30 lines) and adding it to
:data:`ADAPTERS`; the engine (walks, reference and fast paths) is architecture independent.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.compat import spk
from ..nn.so3fast import convolution_coupling, so3_convolution


class Adapter:
    def __init__(self, net: nn.Module):
        self.net = net
        self.rep = net.representation
        out = net.output_modules[0]
        if getattr(out, "aggregation_mode", "sum") != "sum":
            raise ValueError("GNN-LRP needs an atomwise *sum* energy head")
        self.outnet = out.outnet

    @property
    def n_layers(self) -> int:
        """Number of interaction (message-passing) layers = walk length − 1."""
        return int(self.rep.n_interactions)

    @staticmethod
    def _edges(inputs):
        """Edge vectors r_ij and their lengths (E, 1)."""
        r = inputs[spk.properties.Rij]
        return r, torch.norm(r, dim=1, keepdim=True)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.outnet(h).reshape(-1)

    def prepare(self, inputs):  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, inputs):  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, t, h, aux, edge, idx_i, idx_j, n_nodes, n_out=None):  # pragma: no cover - interface
        raise NotImplementedError


class SchNetAdapter(Adapter):
    @property
    def n_layers(self) -> int:
        return len(self.rep.interactions)  # SchNet's representation has no n_interactions attribute

    def prepare(self, inputs):
        d = torch.norm(inputs[spk.properties.Rij], dim=1)
        return {"f_ij": self.rep.radial_basis(d), "rcut_ij": self.rep.cutoff_fn(d)}

    def embed(self, inputs):
        return self.rep.embedding(inputs[spk.properties.Z]), None

    def step(self, t, h, aux, edge, idx_i, idx_j, n_nodes, n_out=None):
        n_out = n_nodes if n_out is None else n_out
        blk = self.rep.interactions[t]  # SchNetInteraction.forward, outputs restricted to n_out rows
        x = blk.in2f(h)
        w = blk.filter_network(edge["f_ij"]) * edge["rcut_ij"][:, None]
        x = spk.nn.scatter_add(x[idx_j] * w, idx_i, dim_size=n_out)
        return h[:n_out] + blk.f2out(x), None


class PaiNNAdapter(Adapter):
    """PaiNN explained through its scalar path: the vector features are detached everywhere."""

    def prepare(self, inputs):
        r, d = self._edges(inputs)
        filters = self.rep.filter_net(self.rep.radial_basis(d)) * self.rep.cutoff_fn(d)[..., None]
        return {"dir_ij": r / d, "filters": filters}

    def embed(self, inputs):
        q = self.rep.embedding(inputs[spk.properties.Z])
        return q, torch.zeros(q.shape[0], 3, q.shape[1], dtype=q.dtype, device=q.device)

    def step(self, t, h, aux, edge, idx_i, idx_j, n_nodes, n_out=None):
        n_out = n_nodes if n_out is None else n_out
        F3 = 3 * self.rep.n_atom_basis
        filt = edge["filters"] if self.rep.share_filters else edge["filters"][..., t * F3:(t + 1) * F3]
        q, mu = self.rep.interactions[t](h[:, None], aux.detach(), filt, edge["dir_ij"], idx_i, idx_j,
                                         n_nodes)
        q, mu = self.rep.mixing[t](q[:n_out], mu[:n_out].detach())
        return q[:, 0], mu.detach()


class SO3netAdapter(Adapter):
    """SO3net explained through its l = 0 channel: the l > 0 channels are held constant."""

    def prepare(self, inputs):
        r, d = self._edges(inputs)
        return {"Yij": self.rep.sphharm(r / d), "radial_ij": self.rep.radial_basis(d),
                "cutoff_ij": self.rep.cutoff_fn(d)[..., None]}

    def embed(self, inputs):
        x0 = self.rep.embedding(inputs[spk.properties.Z])
        n_sh = (int(self.rep.lmax) + 1) ** 2
        return x0, torch.zeros(x0.shape[0], n_sh - 1, x0.shape[1], dtype=x0.dtype, device=x0.device)

    def step(self, t, h, aux, edge, idx_i, idx_j, n_nodes, n_out=None):
        n_out = n_nodes if n_out is None else n_out
        r = self.rep
        conv = r.so3convs[t]
        # The convolution is linear in x: the explained l = 0 input (tracked by autograd) and the
        # constant l > 0 channels (evaluated without autograd) are convolved separately; same value as
        # conv(x), far cheaper backward passes.
        W = conv.filternet(edge["radial_ij"]) * edge["cutoff_ij"]
        dx = _conv_terms(conv, h[:, None], W, edge["Yij"], idx_i, idx_j, n_out, 0)
        with torch.no_grad():  # constant part; the sum must stay outside no_grad to keep dx's graph
            const = _conv_terms(conv, aux, W, edge["Yij"], idx_i, idx_j, n_out, 1)
        dx = dx + const
        x = torch.cat([h[:n_out, None], aux[:n_out].detach()], dim=1)
        ddx = r.mixings1[t](dx)
        dx = dx + r.so3product(dx, ddx)
        dx = r.mixings2[t](dx)
        dx = r.gatings[t](dx)
        dx = r.mixings3[t](dx)
        x = x + dx
        return x[:, 0], x[:, 1:].detach()


def _conv_terms(conv, x, W, Y, idx_i, idx_j, n_out, first):
    """``SO3Convolution.forward`` of the input channels ``first ..`` held by ``x`` (the others taken as
    zero), by the dense Clebsch-Gordan coupling of :mod:`cgexplain.nn.so3fast`. Under autograd with plain
    tensor operations (the engine takes batched gradients through them), otherwise fused."""
    C = getattr(conv, "coupling", None)
    if C is None:  # a stock SchNetPack convolution
        C = convolution_coupling(conv.clebsch_gordan, conv.idx_in_1, conv.idx_in_2, conv.idx_out, conv.Widx,
                                 int(conv.lmax))
    return so3_convolution(C, x, W, Y, idx_i, idx_j, n_out, first, fused=not torch.is_grad_enabled())


ADAPTERS = {"SchNet": SchNetAdapter, "PaiNN": PaiNNAdapter, "SO3net": SO3netAdapter}


def adapter_for(net: nn.Module) -> Adapter:
    name = type(net.representation).__name__
    if name not in ADAPTERS:
        raise NotImplementedError(f"no GNN-LRP adapter for representation {name!r}; "
                                  f"known: {sorted(ADAPTERS)}")
    return ADAPTERS[name](net)
