"""GNN-LRP walk relevances of a SchNetPack energy model (Schnake et al. 2021; Bonneau et al. 2025).

A walk (a0, a1, …, aL) visits one node after the embedding and one after each of the L interactions;
consecutive nodes are equal (self-step) or graph neighbours. Its relevance is, by definition, the
result of a masked forward pass — after the embedding and after each interaction t,
``h ← h·mask_t + (1 − mask_t)·stopgrad(h)`` with ``mask_t`` one-hot on node a_t — followed by the
LRP backward pass (γ-rule, :mod:`.rules`) and R = Σ_features h0 · ∂E/∂h0 at the embedding.

Two implementations with identical results:

* :func:`walk_relevance_reference` follows that definition literally (one masked forward/backward per
  walk, batched by replicating the graph). It is for tests on small graphs.
* :func:`walk_relevance` (fast, exact): with the forward pass fixed, the LRP backward is linear, so
  R(a0..aL) = g[aL]ᵀ J_L[aL, aL-1] ⋯ J_1[a1, a0] h0[a0] with per-layer node-to-node blocks J_t. The
  blocks are never formed: each layer is re-evaluated once on a "star batch" (one copy of the source
  node per arc i←j, self-arcs included, all wired into their centre), so one vector-Jacobian product
  yields the cotangents of every arc separately. Suffixes (a_t..aL) are shared by all walks that end
  with them: layers L..2 are swept with batched VJPs (one per suffix slot per centre), layer 1 with
  Jacobian-vector products of h0 (one per arc slot), and the walks are dot products of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.compat import spk
from .adapters import Adapter, adapter_for
from .rules import lrp_rules


@dataclass
class Prepared:
    """One structure prepared for the engine."""

    adapter: Adapter
    inputs: dict
    edge: dict            # per-edge tensors (E, ...)
    idx_i: torch.Tensor   # (E,) receiving node
    idx_j: torch.Tensor   # (E,) sending node
    n: int


def prepare(pot, pos: torch.Tensor, box) -> Prepared:
    """Build the graph and the per-edge features of one configuration ``pos`` (N, 3)."""
    net = pot.net
    pos = pos.reshape(1, -1, 3)
    inputs = pot.inputs(pos, box)
    for m in net.input_modules:
        inputs = m(inputs)
    ad = adapter_for(net)
    idx_i, idx_j = inputs[spk.properties.idx_i], inputs[spk.properties.idx_j]
    key = idx_i * pos.shape[1] + idx_j
    if torch.unique(key).numel() != key.numel():
        raise ValueError("the graph has several edges between one pair of beads (cutoff too large "
                         "for the box); walks over nodes would be ambiguous")
    with torch.no_grad():
        edge = {k: v.detach() for k, v in ad.prepare(inputs).items()}
    return Prepared(ad, inputs, edge, idx_i, idx_j, pos.shape[1])


def enumerate_walks(n: int, idx_i, idx_j, length: int) -> np.ndarray:
    """All walks (a0..a_{length-1}) with self-steps: (W, length) int64, lexicographic order."""
    nb = [[k] for k in range(n)]
    for i, j in zip(np.asarray(idx_i).tolist(), np.asarray(idx_j).tolist()):
        nb[j].append(i)  # step j -> i is allowed when i receives from j
    for k in range(n):
        nb[k] = sorted(set(nb[k]))
    walks = np.arange(n, dtype=np.int64)[:, None]
    for _ in range(length - 1):
        last = walks[:, -1]
        counts = np.array([len(nb[k]) for k in range(n)])[last]
        rep = np.repeat(np.arange(len(walks)), counts)
        nxt = np.concatenate([nb[k] for k in last]) if len(last) else np.zeros(0, np.int64)
        walks = np.concatenate([walks[rep], np.asarray(nxt, dtype=np.int64)[:, None]], axis=1)
    return walks


def forward_states(P: Prepared):
    """Explained node features h_0..h_L and the constant extra state, at the true forward values."""
    ad = P.adapter
    with torch.no_grad():
        h, aux = ad.embed(P.inputs)
        hs, auxs = [h], [aux]
        for t in range(ad.n_layers):
            h, aux = ad.step(t, h, aux, P.edge, P.idx_i, P.idx_j, P.n)
            hs.append(h)
            auxs.append(aux)
    return hs, auxs


# ----------------------------------------------------------------------------------------------
# reference path
# ----------------------------------------------------------------------------------------------

def walk_relevance_reference(pot, pos, box, walks: np.ndarray, gamma: float = 0.1,
                             batch: int = 16) -> np.ndarray:
    """Relevance of each walk (W, L+1) by masked forward/backward passes (the literal definition)."""
    P = prepare(pot, pos, box)
    ad, N = P.adapter, P.n
    L = ad.n_layers
    walks = np.asarray(walks, dtype=np.int64)
    if walks.ndim != 2 or walks.shape[1] != L + 1:
        raise ValueError(f"walks must have shape (W, {L + 1})")
    out = np.zeros(len(walks))
    E = P.idx_i.numel()
    with lrp_rules(pot.net, gamma), torch.enable_grad():
        h0_1, aux0_1 = ad.embed(P.inputs)
        h0_1 = h0_1.detach()
        for s in range(0, len(walks), batch):
            w = torch.as_tensor(walks[s:s + batch], device=h0_1.device)
            B = w.shape[0]
            base = (torch.arange(B, device=w.device) * N)
            idx_i = (P.idx_i[None] + base[:, None]).reshape(-1)
            idx_j = (P.idx_j[None] + base[:, None]).reshape(-1)
            edge = {k: v.repeat((B,) + (1,) * (v.dim() - 1)) for k, v in P.edge.items()}

            def mask(t):
                m = torch.zeros(B * N, 1, dtype=h0_1.dtype, device=h0_1.device)
                m[base + w[:, t]] = 1.0
                return m

            h0 = h0_1.repeat(B, 1).requires_grad_(True)
            aux = None if aux0_1 is None else aux0_1.detach().repeat((B,) + (1,) * (aux0_1.dim() - 1))
            m = mask(0)
            h = h0 * m + (1 - m) * h0.detach()
            for t in range(L):
                h, aux = ad.step(t, h, aux, edge, idx_i, idx_j, B * N)
                m = mask(t + 1)
                h = h * m + (1 - m) * h.detach()
            e = ad.head(h).sum()
            (g,) = torch.autograd.grad(e, h0)
            out[s:s + B] = (h0.detach() * g).reshape(B, N, -1).sum((1, 2)).cpu().numpy()
    return out


# ----------------------------------------------------------------------------------------------
# fast exact path
# ----------------------------------------------------------------------------------------------

_BATCHING_REFUSED = ("vmap", "Batching rule", "batching rule", "BatchedTensor", "is_grads_batched")


def batched_grad(out: torch.Tensor, x: torch.Tensor, cot: torch.Tensor) -> torch.Tensor:
    """The gradients of ``out`` with respect to ``x`` for each of the K cotangents ``cot`` (K, *out.shape),
    in one batched backward pass.

    Two fallbacks, each for what it means and nothing else: out of device memory → the K rows in two
    halves (recursively; the memory is what failed, not the method); an operation without a batching
    rule (vmap) → one backward pass per row. Any other error (a device fault, a bug) propagates.
    """
    try:
        return torch.autograd.grad(out, x, cot, retain_graph=True, is_grads_batched=True)[0]
    except torch.OutOfMemoryError:
        if len(cot) < 2:
            raise
        if x.is_cuda:
            torch.cuda.empty_cache()
        h = len(cot) // 2
        return torch.cat([batched_grad(out, x, cot[:h]), batched_grad(out, x, cot[h:])])
    except RuntimeError as e:
        if not any(k in str(e) for k in _BATCHING_REFUSED):
            raise
        return torch.stack([torch.autograd.grad(out, x, c, retain_graph=True)[0] for c in cot])


class _Star:
    """Layer t evaluated on the star batch: row r < N is node r itself, row N+e the sender of edge e."""

    def __init__(self, P: Prepared, t: int, h_prev, aux_prev):
        N, E = P.n, P.idx_i.numel()
        self.N = N
        self.src = torch.cat([torch.arange(N, device=h_prev.device), P.idx_j])
        self.cen = torch.cat([torch.arange(N, device=h_prev.device), P.idx_i])
        self.x = h_prev[self.src].detach().requires_grad_(True)
        aux = None if aux_prev is None else aux_prev[self.src]
        star_j = N + torch.arange(E, device=h_prev.device)
        self.fn = lambda x: P.adapter.step(t, x, aux, P.edge, P.idx_i, star_j, N + E, n_out=N)[0]
        self.out = self.fn(self.x)

    def vjp(self, C: torch.Tensor) -> torch.Tensor:
        """C (K, N, F) cotangents at the centres → (K, N+E, F) cotangents of every arc row."""
        return batched_grad(self.out, self.x, C)

    def jvp(self, V: torch.Tensor) -> torch.Tensor:
        """V (K, N+E, F) tangents of the arc rows → (K, N, F) tangents at the centres."""
        # J·v as the gradient of the (linear in u) VJP uᵀJ·v with respect to u
        u = torch.zeros_like(self.out, requires_grad=True)
        (gx,) = torch.autograd.grad(self.out, self.x, u, retain_graph=True, create_graph=True)
        return batched_grad(gx, u, V)


def _slots(first: torch.Tensor, n: int):
    """Rank of each item within its group (groups = values of ``first``), and the number of slots."""
    order = torch.argsort(first, stable=True)
    counts = torch.bincount(first, minlength=n)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(first)
    rank[order] = torch.arange(first.numel(), device=first.device) - starts[first[order]]
    return rank, int(counts.max()) if first.numel() else 0


@dataclass
class WalkResult:
    walks: np.ndarray       # (W, L+1) int64, a0 first
    relevance: np.ndarray   # (W,)
    energy: float           # network energy (without prior) at the true forward values
    n_edges: int


def walk_relevance(pot, pos, box, gamma: float = 0.1, chunk: int = 1 << 16) -> WalkResult:
    """Relevances of all walks of one configuration by the fast exact path."""
    P = prepare(pot, pos, box)
    ad, N = P.adapter, P.n
    L = ad.n_layers
    E = P.idx_i.numel()
    dev = P.idx_i.device
    hs, auxs = forward_states(P)
    with lrp_rules(pot.net, gamma), torch.enable_grad():
        hL = hs[-1].detach().requires_grad_(True)
        e = ad.head(hL).sum()
        (g,) = torch.autograd.grad(e, hL)
        energy = float(e.detach())
        cen_of_row = torch.cat([torch.arange(N, device=dev), P.idx_i])
        src_of_row = torch.cat([torch.arange(N, device=dev), P.idx_j])
        # rows grouped by centre, for the expansion suffix -> (source, suffix)
        row_order = torch.argsort(cen_of_row, stable=True)
        row_count = torch.bincount(cen_of_row, minlength=N)
        row_start = torch.cumsum(row_count, 0) - row_count

        def expand(first: torch.Tensor):
            """Pairs (suffix s, arc row r) with centre(r) == first[s]."""
            cnt = row_count[first]
            s_rep = torch.repeat_interleave(torch.arange(first.numel(), device=dev), cnt)
            off = torch.arange(s_rep.numel(), device=dev) - torch.repeat_interleave(
                torch.cumsum(cnt, 0) - cnt, cnt)
            r = row_order[row_start[first[s_rep]] + off]
            return s_rep, r

        # suffixes (a_t..a_L): node sequences and cotangents w.r.t. h_t[a_t]
        suf = torch.arange(N, device=dev)[:, None]
        cot = g
        for t in range(L, 1, -1):  # layer t maps h_{t-1} -> h_t
            star = _Star(P, t - 1, hs[t - 1], auxs[t - 1])
            rank, K = _slots(suf[:, 0], N)
            C = torch.zeros(K, N, cot.shape[-1], dtype=cot.dtype, device=dev)
            C[rank, suf[:, 0]] = cot
            G = star.vjp(C)  # (K, N+E, F)
            s_rep, r = expand(suf[:, 0])
            cot = G[rank[s_rep], r]
            suf = torch.cat([src_of_row[r][:, None], suf[s_rep]], dim=1)
            del star, G, C
        # layer 1: tangents J_1[centre, source] h0[source] of every arc row
        star = _Star(P, 0, hs[0], auxs[0])
        rank_r, K = _slots(cen_of_row, N)
        V = torch.zeros(K, N + E, hs[0].shape[-1], dtype=hs[0].dtype, device=dev)
        rows = torch.arange(N + E, device=dev)
        V[rank_r, rows] = hs[0][src_of_row]
        T = star.jvp(V)  # (K, N, F)
        tau = T[rank_r, cen_of_row]  # (N+E, F)
        del star, V, T
        s_rep, r = expand(suf[:, 0])
        rel = torch.empty(s_rep.numel(), dtype=cot.dtype, device=dev)
        for a in range(0, s_rep.numel(), chunk):
            sl = slice(a, a + chunk)
            rel[sl] = (tau[r[sl]] * cot[s_rep[sl]]).sum(-1)
        walks = torch.cat([src_of_row[r][:, None], suf[s_rep]], dim=1)
    walks = walks.cpu().numpy()
    rel = rel.detach().cpu().numpy()
    order = np.lexsort(walks.T[::-1])
    return WalkResult(walks[order], rel[order], energy, E)
