"""SchNetPack's SO3net with fused, dense Clebsch–Gordan contractions: the same function and parameters, faster.

SchNetPack 2.0.4 evaluates the SO3net convolution

    y_{i,s,f} = Σ_{j→i} Σ_{s1,s2} C_{s1,s2}^{s} · W_{ij,l(s1),f} · Y_{ij,s1} · x_{j,s2,f}

(s = (l, m) combined index, C the real Clebsch–Gordan coefficients, W the radial filter, Y the real
spherical harmonics) by gathering the K non-zero coefficients (K = 83 for lmax 2) into per-edge
``[E × K × F]`` tensors, multiplying them with broadcasting and summing with ``index_add`` along K.
A force-matching step differentiates that twice; on CPU the time goes into those broadcast products,
their gradients and the page faults of the many large temporaries.

Here, per edge, the angular coupling ``A_e[s, (l1, s2)] = Σ_{s1: l(s1)=l1} C_{s1,s2}^s Y_{e,s1}`` is one
matrix product ``Y @ C`` with a dense coupling tensor ``C[s1, s, l1, s2]`` built from SchNetPack's own
coefficient buffers, and the message is one batched matrix product ``A_e @ (W_e ⊗ x_j)`` (``⊗`` over
(l1, s2), elementwise in f). The convolution is a custom autograd function whose first *and second*
derivatives are written out (:class:`_SO3ConvolutionVJP`), evaluated in chunks of edges whose
temporaries stay in cache and are never kept for the backward pass; the second derivatives are made of
differentiable operations, so higher derivatives are exact as well. Two special cases of the coupling
are elementwise: the l1 = 0 block (diagonal in s, s2) and the first interaction, whose input is the
scalar embedding (SchNetPack pads it with zero channels; :class:`SO3net` passes it unpadded).

The spherical harmonics are one matrix product of the direction monomials with a coefficient matrix
assembled from SchNetPack's coefficient buffers (:class:`RealSphericalHarmonics`); the tensor product
of the interaction block uses a dense coupling on nodes (:class:`SO3TensorProduct`). Embedding, radial
basis, mixings and gating are SchNetPack's own code.

The modules are subclasses of SchNetPack's that only override ``forward`` and add non-persistent
buffers (dense couplings with exactly the values of SchNetPack's buffers in every dtype): state dicts
are interchangeable with stock SchNetPack in both directions. Use :class:`SO3net` in place of
``spk.representation.SO3net``, or :func:`accelerate` on an existing one. benchmarks/bench_archs.py
measures it against SchNetPack's SO3net, PaiNN and SchNet; tests/test_so3fast.py checks the equality.
"""

from __future__ import annotations

import math
from typing import Dict

import torch

from ..core.compat import spk

__all__ = ["RealSphericalHarmonics", "SO3Convolution", "SO3ParametricGatedNonlinearity", "SO3TensorProduct",
           "SO3net", "accelerate", "convolution_coupling", "so3_convolution", "so3_tensor_product",
           "tensor_product_coupling"]


def convolution_coupling(cg: torch.Tensor, idx_in_1: torch.Tensor, idx_in_2: torch.Tensor,
                         idx_out: torch.Tensor, l_in_1: torch.Tensor, lmax: int) -> torch.Tensor:
    """Dense coupling ``C[s1, s, l1, s2]`` of the convolution from SchNetPack's sparse coefficients.

    ``cg[k]`` couples ``Y[idx_in_1[k]]`` and ``x[idx_in_2[k]]`` into output ``idx_out[k]``; ``l1`` is the
    degree of ``s1`` (``l_in_1[k]``, SchNetPack's ``Widx``), which selects the radial filter. Entries
    with ``l1 != l(s1)`` stay zero, so contracting ``Y`` with it keeps the filter degrees apart.
    """
    S = (lmax + 1) ** 2
    C = cg.new_zeros(S, S, lmax + 1, S)
    C[idx_in_1, idx_out, l_in_1, idx_in_2] = cg  # the (s1, s2, s) triples are distinct
    return C


def tensor_product_coupling(cg: torch.Tensor, idx_in_1: torch.Tensor, idx_in_2: torch.Tensor,
                            idx_out: torch.Tensor, lmax: int) -> torch.Tensor:
    """Dense coupling ``C[s, s1, s2]`` of the tensor product from SchNetPack's sparse coefficients."""
    S = (lmax + 1) ** 2
    C = cg.new_zeros(S, S, S)
    C[idx_out, idx_in_1, idx_in_2] = cg
    return C


CHUNK_BYTES = 2 << 20  # CPU, per thread: the temporaries of one chunk of edges, about one L2 cache
CHUNK_BYTES_ACCELERATOR = 256 << 20  # GPU: few large chunks, bounded memory


def _edge_chunks(n_edges: int, floats_per_edge: int, like: torch.Tensor):
    """Slices of the edges processed together, with ``floats_per_edge`` temporaries of ``like``'s dtype
    per edge: on CPU chunks that stay in the threads' caches, on accelerators chunks of bounded memory."""
    if like.device.type == "cpu":
        budget = CHUNK_BYTES * max(1, torch.get_num_threads())
    else:
        budget = CHUNK_BYTES_ACCELERATOR
    step = max(1, budget // (like.element_size() * max(1, floats_per_edge)))
    return [slice(a, min(n_edges, a + step)) for a in range(0, n_edges, step)]


def _outer(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``U[e, (l, k), f] = W[e, l, f] X[e, k, f]``."""
    c, n_l, F = W.shape
    return (W.unsqueeze(2) * X.unsqueeze(1)).view(c, n_l * X.shape[1], F)


class _SO3Convolution(torch.autograd.Function):
    """``y[i, s, f] = Σ_{e→i} Σ_{l,k} A_e[s, l, k] W[e, l, f] x[j_e, k, f]`` with ``A_e = Y_e @ C``.

    With ``d`` (a vector over the input channels, which must then be all (lmax+1)² channels), the
    l = 0 block is the diagonal ``A_e[s, 0, k] = Y_e[0] d[k] δ_sk`` and ``C`` holds only the blocks
    l ≥ 1 (rows s1 ≥ 1 of Y, filters W[:, 1:]); without it ``C`` holds every block.

    Evaluated in chunks of edges; no per-edge intermediate is kept for the backward pass (it is
    recomputed in cache), and the backward pass is itself a fused function (:class:`_SO3ConvolutionVJP`).
    """

    @staticmethod
    def forward(ctx, Y, W, x, idx_i, idx_j, C, d, n_out: int):
        ctx.save_for_backward(Y, W, x, idx_i, idx_j, C, d)
        E, F, K = W.shape[0], W.shape[2], x.shape[1]
        o = 0 if d is None else 1  # first row of Y and first filter of the dense blocks
        LK = (W.shape[1] - o) * K
        S = C.shape[1] // LK
        y = x.new_zeros(n_out, S, F)
        for sl in _edge_chunks(E, 2 * LK * F, x):
            X = x.index_select(0, idx_j[sl])
            A = (Y[sl, o:] @ C).view(-1, S, LK)
            y_ij = torch.bmm(A, _outer(W[sl, o:], X))
            if d is not None:
                y_ij += (Y[sl, :1] * W[sl, 0]).unsqueeze(1) * (X * d.unsqueeze(1))
            y.index_add_(0, idx_i[sl], y_ij)
        return y

    @staticmethod
    def backward(ctx, gy):
        Y, W, x, idx_i, idx_j, C, d = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        gY, gW, gx = _SO3ConvolutionVJP.apply(Y, W, x, gy.contiguous(), idx_i, idx_j, C, d, needs)
        return gY, gW, gx, None, None, None, None, None


class _SO3ConvolutionVJP(torch.autograd.Function):
    """Vector-Jacobian product of :class:`_SO3Convolution`: ``(Y, W, x, gy) → (∂/∂Y, ∂/∂W, ∂/∂x)`` of
    ``Σ gy · y`` (None where ``needs`` is False). Its own backward pass (the second derivatives, used
    by force training) is fused as well and made of differentiable operations: when autograd records
    it (``create_graph=True``), higher derivatives are exact too."""

    @staticmethod
    def forward(ctx, Y, W, x, gy, idx_i, idx_j, C, d, needs):
        ctx.save_for_backward(Y, W, x, gy, idx_i, idx_j, C, d)
        need_Y, need_W, need_x = needs
        E, F, K = W.shape[0], W.shape[2], x.shape[1]
        o = 0 if d is None else 1
        n_l, S = W.shape[1] - o, gy.shape[1]
        gY = Y.new_empty(Y.shape) if need_Y else None
        gW = torch.empty_like(W) if need_W else None
        gx = torch.zeros_like(x) if need_x else None
        for sl in _edge_chunks(E, 3 * n_l * K * F, x):
            X, G, Wd = x.index_select(0, idx_j[sl]), gy.index_select(0, idx_i[sl]), W[sl, o:]
            if need_Y:  # ∂/∂A[s, (l, k)] = Σ_f G[s, f] U[(l, k), f], then through A = Y @ C
                B = torch.bmm(G, _outer(Wd, X).transpose(1, 2))
                gY[sl, o:] = B.flatten(1) @ C.t()
            gx_ij = None
            if need_W or need_x:  # V[(l, k), f] = Σ_s A[s, (l, k)] G[s, f]
                A = (Y[sl, o:] @ C).view(-1, S, n_l * K)
                V = torch.bmm(A.transpose(1, 2), G).view(-1, n_l, K, F)
                if need_W:
                    gW[sl, o:] = (V * X.unsqueeze(1)).sum(2)
                if need_x:
                    gx_ij = (V * Wd.unsqueeze(2)).sum(1)
            if d is not None:  # the diagonal l = 0 block
                Gd = G * d.unsqueeze(1)
                P = (Gd * X).sum(1)
                Y0, W0 = Y[sl, :1], W[sl, 0]
                if need_Y:
                    gY[sl, 0] = (P * W0).sum(1)
                if need_W:
                    gW[sl, 0] = Y0 * P
                if need_x:
                    gx_ij += (Y0 * W0).unsqueeze(1) * Gd
            if need_x:
                gx.index_add_(0, idx_j[sl], gx_ij)
        return gY, gW, gx

    @staticmethod
    def backward(ctx, hY, hW, hx):
        """Cotangents (hY, hW, hx) of (gY, gW, gx) → gradients with respect to (Y, W, x, gy).

        With ``HA = hY @ C`` and ``HX = hx[j]`` (per edge), the pairing of the cotangents with
        (gY, gW, gx) is ``Σ_edges [T(HA, G, W, X) + T(A, G, hW, X) + T(A, G, W, HX)]`` where
        ``T(A, G, W, X) = Σ A[s,l,k] G[s,f] W[l,f] X[k,f]``, differentiated term by term.
        """
        Y, W, x, gy, idx_i, idx_j, C, d = ctx.saved_tensors
        need_Y, need_W, need_x, need_gy = ctx.needs_input_grad[:4]
        E, F, K = W.shape[0], W.shape[2], x.shape[1]
        o = 0 if d is None else 1
        n_l, S = W.shape[1] - o, gy.shape[1]
        LK = n_l * K
        dY = torch.zeros_like(Y) if need_Y else None
        dW = torch.empty_like(W) if need_W else None
        dx = torch.zeros_like(x) if need_x else None
        dgy = torch.zeros_like(gy) if need_gy else None
        for sl in _edge_chunks(E, 5 * LK * F, x):
            X, HX, G = x.index_select(0, idx_j[sl]), hx.index_select(0, idx_j[sl]), gy.index_select(0, idx_i[sl])
            Wd, hWd = W[sl, o:], hW[sl, o:]
            A = (Y[sl, o:] @ C).view(-1, S, LK)
            HA = (hY[sl, o:] @ C).view(-1, S, LK)
            V = torch.bmm(A.transpose(1, 2), G).view(-1, n_l, K, F)
            VH = torch.bmm(HA.transpose(1, 2), G).view(-1, n_l, K, F)
            U2 = _outer(hWd, X) + _outer(Wd, HX)
            if need_x:
                dx_ij = (V * hWd.unsqueeze(2)).sum(1) + (VH * Wd.unsqueeze(2)).sum(1)
            if need_W:
                dW[sl, o:] = (V * HX.unsqueeze(1)).sum(2) + (VH * X.unsqueeze(1)).sum(2)
            if need_Y:
                dY[sl, o:] = torch.bmm(G, U2.transpose(1, 2)).flatten(1) @ C.t()
            if need_gy:
                dG = torch.bmm(A, U2) + torch.bmm(HA, _outer(Wd, X))
            if d is not None:  # the diagonal l = 0 block: A[s, 0, k] = Y0 d[k] δ_sk
                Y0, W0, hY0, hW0 = Y[sl, :1], W[sl, 0], hY[sl, :1], hW[sl, 0]
                Gd = G * d.unsqueeze(1)
                q1 = hY0 * W0 + Y0 * hW0
                if need_Y:
                    dY[sl, 0] = (Gd * (hW0.unsqueeze(1) * X + W0.unsqueeze(1) * HX)).sum((1, 2))
                if need_W:
                    dW[sl, 0] = (Gd * (hY0.unsqueeze(2) * X + Y0.unsqueeze(2) * HX)).sum(1)
                if need_x:
                    dx_ij += Gd * q1.unsqueeze(1)
                if need_gy:
                    dG += d.unsqueeze(1) * (q1.unsqueeze(1) * X + (Y0 * W0).unsqueeze(1) * HX)
            if need_x:
                dx.index_add_(0, idx_j[sl], dx_ij)
            if need_gy:
                dgy.index_add_(0, idx_i[sl], dG)
        return dY, dW, dx, dgy, None, None, None, None, None


class _ScalarInputConvolution(torch.autograd.Function):
    """:class:`_SO3Convolution` of an l = 0 input (the embedding), whose coupling is diagonal:
    ``y[i, s, f] = Σ_{e→i} a_e[s] W[e, l(s), f] x[j_e, 0, f]`` with ``a_e[s] = d[s] Y_e[s]``.

    ``l_of_s`` [S] is the degree of each output channel. Same chunking and fused derivatives as
    :class:`_SO3Convolution`, with elementwise products instead of matrix products."""

    @staticmethod
    def forward(ctx, Y, W, x, idx_i, idx_j, d, l_of_s, n_out: int):
        ctx.save_for_backward(Y, W, x, idx_i, idx_j, d, l_of_s)
        E, S, F = Y.shape[0], Y.shape[1], x.shape[2]
        y = x.new_zeros(n_out, S, F)
        for sl in _edge_chunks(E, 2 * S * F, x):
            Wg = W[sl].index_select(1, l_of_s)
            y.index_add_(0, idx_i[sl], (Y[sl] * d).unsqueeze(2) * Wg * x.index_select(0, idx_j[sl]))
        return y

    @staticmethod
    def backward(ctx, gy):
        Y, W, x, idx_i, idx_j, d, l_of_s = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        gY, gW, gx = _ScalarInputConvolutionVJP.apply(Y, W, x, gy.contiguous(), idx_i, idx_j, d, l_of_s, needs)
        return gY, gW, gx, None, None, None, None, None


class _ScalarInputConvolutionVJP(torch.autograd.Function):
    """Vector-Jacobian product of :class:`_ScalarInputConvolution` (with fused second derivatives)."""

    @staticmethod
    def forward(ctx, Y, W, x, gy, idx_i, idx_j, d, l_of_s, needs):
        ctx.save_for_backward(Y, W, x, gy, idx_i, idx_j, d, l_of_s)
        need_Y, need_W, need_x = needs
        E, S, F = Y.shape[0], Y.shape[1], x.shape[2]
        gY = Y.new_empty(Y.shape) if need_Y else None
        gW = torch.zeros_like(W) if need_W else None
        gx = torch.zeros_like(x) if need_x else None
        for sl in _edge_chunks(E, 4 * S * F, x):
            G, X = gy.index_select(0, idx_i[sl]), x.index_select(0, idx_j[sl])
            a = (Y[sl] * d).unsqueeze(2)
            Wg = W[sl].index_select(1, l_of_s)
            GX = G * X
            if need_Y:
                gY[sl] = d * (GX * Wg).sum(2)
            if need_W:
                gW[sl].index_add_(1, l_of_s, a * GX)
            if need_x:
                gx.index_add_(0, idx_j[sl], (a * G * Wg).sum(1, keepdim=True))
        return gY, gW, gx

    @staticmethod
    def backward(ctx, hY, hW, hx):
        """Cotangents (hY, hW, hx) of (gY, gW, gx) → gradients with respect to (Y, W, x, gy)."""
        Y, W, x, gy, idx_i, idx_j, d, l_of_s = ctx.saved_tensors
        need_Y, need_W, need_x, need_gy = ctx.needs_input_grad[:4]
        E, S, F = Y.shape[0], Y.shape[1], x.shape[2]
        dY = Y.new_empty(Y.shape) if need_Y else None
        dW = torch.zeros_like(W) if need_W else None
        dx = torch.zeros_like(x) if need_x else None
        dgy = torch.zeros_like(gy) if need_gy else None
        for sl in _edge_chunks(E, 6 * S * F, x):
            G, X, HX = gy.index_select(0, idx_i[sl]), x.index_select(0, idx_j[sl]), hx.index_select(0, idx_j[sl])
            a, ha = (Y[sl] * d).unsqueeze(2), (hY[sl] * d).unsqueeze(2)
            Wg, hWg = W[sl].index_select(1, l_of_s), hW[sl].index_select(1, l_of_s)
            if need_gy:
                dgy.index_add_(0, idx_i[sl], ha * Wg * X + a * (hWg * X + Wg * HX))
            if need_Y:
                dY[sl] = d * (G * (hWg * X + Wg * HX)).sum(2)
            if need_W:
                dW[sl].index_add_(1, l_of_s, G * (ha * X + a * HX))
            if need_x:
                dx.index_add_(0, idx_j[sl], (G * (ha * Wg + a * hWg)).sum(1, keepdim=True))
        return dY, dW, dx, dgy, None, None, None, None, None


def so3_convolution(coupling: torch.Tensor, x: torch.Tensor, W: torch.Tensor, Y: torch.Tensor,
                    idx_i: torch.Tensor, idx_j: torch.Tensor, n_out: int, first: int = 0,
                    fused: bool = True) -> torch.Tensor:
    """SO3 convolution ``y_{i,s,f} = Σ_{j→i} Σ_{s1,s2} C_{s1,s2}^s W_{ij,l(s1),f} Y_{ij,s1} x_{j,s2,f}``.

    Args:
        coupling: ``C[s1, s, l1, s2]`` from :func:`convolution_coupling`, shape [S, S, lmax+1, S]
        x: node features holding the channels ``s2 = first .. first + x.shape[1] - 1`` (the others are
            taken as zero), shape [n_nodes, n_in, F]
        W: radial filters (filter network output times cutoff), shape [E, (lmax+1) * F]
        Y: real spherical harmonics of the edge directions, shape [E, S]
        idx_i, idx_j: receiving and sending node of each edge, shape [E]
        n_out: number of output nodes (every ``idx_i`` is below it)
        fused: evaluate with the fused, edge-chunked autograd functions (first and second derivatives);
            False: with plain differentiable tensor operations (slower, but open to every autograd
            transform: batched gradients, forward mode, higher derivatives)

    Returns:
        y: shape [n_out, S, F]
    """
    if not fused:
        return _convolution_unfused(coupling, x, W, Y, idx_i, idx_j, n_out, first)
    S, n_l = coupling.shape[0], coupling.shape[2]
    n_in, F = x.shape[1], x.shape[2]
    W = W.reshape(-1, n_l, F)
    if first == 0 and n_in == 1:
        d, l_of_s = _scalar_input_coupling(coupling)
        return _ScalarInputConvolution.apply(Y, W, x, idx_i, idx_j, d, l_of_s, n_out)
    if first == 0 and n_in == S:  # the l1 = 0 block C[0, s, 0, s2] is diagonal (s = s2)
        s = torch.arange(S, device=coupling.device)
        C = coupling[1:, :, 1:, :].reshape(S - 1, S * (n_l - 1) * S)
        return _SO3Convolution.apply(Y, W, x, idx_i, idx_j, C, coupling[0, s, 0, s], n_out)
    C = coupling[..., first:first + n_in].reshape(S, S * n_l * n_in)
    return _SO3Convolution.apply(Y, W, x, idx_i, idx_j, C, None, n_out)


def _scalar_input_coupling(coupling: torch.Tensor):
    """``(d, l_of_s)`` with ``C[s1, s, l1, 0] = d[s]`` for ``s1 = s, l1 = l_of_s[s]`` and zero otherwise: the
    coupling of an l = 0 input is diagonal."""
    s = torch.arange(coupling.shape[0], device=coupling.device)
    diag = coupling[s, s, :, 0]  # [S, lmax+1], one non-zero per row
    l_of_s = diag.abs().argmax(1)
    return diag[s, l_of_s], l_of_s


def _convolution_unfused(coupling, x, W, Y, idx_i, idx_j, n_out, first):
    """:func:`so3_convolution` with plain tensor operations (one dense coupling matrix per edge)."""
    S, n_l = coupling.shape[0], coupling.shape[2]
    n_in, F = x.shape[1], x.shape[2]
    W = W.reshape(-1, n_l, F)
    X = x.index_select(0, idx_j)
    if first == 0 and n_in == 1:
        d, l_of_s = _scalar_input_coupling(coupling)
        y = (Y * d).unsqueeze(2) * W.index_select(1, l_of_s) * X
    else:
        A = (Y @ coupling[..., first:first + n_in].reshape(S, S * n_l * n_in)).view(-1, S, n_l * n_in)
        y = torch.bmm(A, _outer(W, X))
    return y.new_zeros(n_out, S, F).index_add_(0, idx_i, y)


def so3_tensor_product(coupling: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Clebsch–Gordan tensor product ``y_{n,s,f} = Σ_{s1,s2} C_{s1,s2}^s x1_{n,s1,f} x2_{n,s2,f}``.

    ``coupling`` is ``C[s, s1, s2]`` from :func:`tensor_product_coupling`; x1, x2: [n, S, F].
    """
    n, S, F = x1.shape
    T = torch.matmul(coupling.view(S * S, S), x2)  # [n, (s, s1), F]
    return (T.view(n, S, S, F) * x1.unsqueeze(1)).sum(2)


class RealSphericalHarmonics(spk.nn.RealSphericalHarmonics):
    """``spk.nn.RealSphericalHarmonics`` as one matrix product ``Y = M(r̂) @ K``.

    Every real spherical harmonic of degree ≤ lmax is a polynomial of degree ≤ lmax in the direction
    (x, y, z); ``M`` holds the monomials x^a y^b z^c (a + b + c ≤ lmax) and ``K`` their coefficients,
    assembled from SchNetPack's own coefficient buffers (products of the same rounded numbers, including
    SchNetPack's single-precision √½ for m = 0), once per dtype and device. SchNetPack instead raises
    broadcast tensors to tensor powers, whose first and second derivatives dominate its cost.
    """

    def _monomials(self):
        """Exponents (a, b, c) of the monomials x^a y^b z^c of degree ≤ lmax, in a fixed order."""
        n = int(self.lmax)
        return [(a, b, c) for a in range(n + 1) for b in range(n + 1 - a) for c in range(n + 1 - a - b)]

    def _coefficients(self, dtype, device) -> torch.Tensor:
        """``K[monomial, s]`` in ``dtype`` from SchNetPack's buffers (cached per dtype and device)."""
        cache = self.__dict__.setdefault("_coefficient_cache", {})
        key = (dtype, device)
        if key not in cache:
            cache[key] = self._assemble_coefficients().to(device=device, dtype=dtype)
        return cache[key]

    def _exponents(self, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The monomials' exponents of x, y and z as index tensors on ``device`` (cached per device)."""
        cache = self.__dict__.setdefault("_exponent_cache", {})
        if device not in cache:
            cache[device] = tuple(torch.tensor(e, device=device) for e in zip(*self._monomials()))
        return cache[device]

    def _assemble_coefficients(self) -> torch.Tensor:
        """``K`` on the CPU, from CPU copies of the buffers (a few hundred scalar products: one host copy
        of each buffer instead of a device round trip per product); the caller moves it to the device."""
        monomial = {e: k for k, e in enumerate(self._monomials())}
        cpu = {n: getattr(self, n).detach().cpu() for n in ("cPi", "flidx", "lidx", "midx", "cAm", "cBm",
                                                            "powers", "zpow")}
        lmax, dt = int(self.lmax), cpu["cPi"].dtype
        # SchNetPack's m = 0 factor is √½ times a default-dtype tensor (single precision by default)
        sqrt_half = (math.sqrt(0.5) * torch.ones(1)).to(dt)[0]
        norm = torch.sqrt((2 * cpu["flidx"] + 1) / (2 * math.pi))
        K = torch.zeros(len(monomial), len(cpu["lidx"]), dtype=dt)
        exps = lambda t: [int(v) for v in t.tolist()]  # noqa: E731  (exact small integers)
        for s, (l, m) in enumerate(zip(cpu["lidx"].tolist(), cpu["midx"].tolist())):
            if m == 0:
                xy = [(sqrt_half, (0, 0))]
            else:
                c = cpu["cAm"] if m > 0 else cpu["cBm"]
                xy = [(c[abs(m) - 1, p], exps(cpu["powers"][abs(m) - 1, p])) for p in range(lmax + 1)]
            z = [(cpu["cPi"][l, abs(m), k], int(cpu["zpow"][l, abs(m), k])) for k in range(cpu["cPi"].shape[2])]
            for c_xy, (a, b) in xy:
                for c_z, cz in z:
                    K[monomial[(a, b, cz)], s] += norm[s] * c_z * c_xy
        return K

    def forward(self, directions: torch.Tensor) -> torch.Tensor:
        """Real spherical harmonics [E, (lmax+1)²] of unit vectors ``directions`` [E, 3]."""
        n = int(self.lmax)
        powers = [torch.ones_like(directions), directions]  # powers[p][:, d]: component d to the power p
        for _ in range(n - 1):
            powers.append(powers[-1] * directions)
        P = torch.stack(powers, 2)  # [E, 3, lmax+1]
        a, b, c = self._exponents(directions.device)
        M = P[:, 0].index_select(1, a) * P[:, 1].index_select(1, b) * P[:, 2].index_select(1, c)
        return M @ self._coefficients(directions.dtype, directions.device)


class SO3Convolution(spk.nn.SO3Convolution):
    """``spk.nn.SO3Convolution`` evaluated by :func:`so3_convolution` (fused, dense coupling).

    Also accepts node features with fewer than (lmax+1)² channels: the missing higher channels are
    taken as zero (the first SO3net interaction, whose input is the scalar embedding).
    """

    def __init__(self, lmax: int, n_atom_basis: int, n_radial: int):
        super().__init__(lmax, n_atom_basis, n_radial)
        self._register_coupling()

    def _register_coupling(self) -> None:
        C = convolution_coupling(self.clebsch_gordan, self.idx_in_1, self.idx_in_2, self.idx_out,
                                 self.Widx, int(self.lmax))
        self.register_buffer("coupling", C, persistent=False)

    def radial_filter(self, radial_ij: torch.Tensor, cutoff_ij: torch.Tensor) -> torch.Tensor:
        """Radial filters per degree, shape [E, (lmax+1) * F] (SchNetPack gathers them per CG term)."""
        return self.filternet(radial_ij) * cutoff_ij

    def forward(self, x, radial_ij, dir_ij, cutoff_ij, idx_i, idx_j):
        """Same arguments as SchNetPack's (``dir_ij`` holds the spherical harmonics of the edges)."""
        W = self.radial_filter(radial_ij, cutoff_ij)
        return so3_convolution(self.coupling, x, W, dir_ij, idx_i, idx_j, x.shape[0])


class SO3TensorProduct(spk.nn.SO3TensorProduct):
    """``spk.nn.SO3TensorProduct`` evaluated by :func:`so3_tensor_product`."""

    def __init__(self, lmax: int):
        super().__init__(lmax)
        self._register_coupling()

    def _register_coupling(self) -> None:
        C = tensor_product_coupling(self.clebsch_gordan, self.idx_in_1, self.idx_in_2, self.idx_out,
                                    int(self.lmax))
        self.register_buffer("coupling", C, persistent=False)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return so3_tensor_product(self.coupling, x1, x2)


class SO3ParametricGatedNonlinearity(spk.nn.SO3ParametricGatedNonlinearity):
    """``spk.nn.SO3ParametricGatedNonlinearity`` with the per-degree gates gathered by ``index_select``
    (whose gradient is an ``index_add``) instead of advanced indexing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.scaling(x[:, 0]).reshape(-1, self.lmax + 1, self.n_in)
        return x * torch.sigmoid(h.index_select(1, self.lidx.to(x.device)))


class SO3net(spk.representation.SO3net):
    """``spk.representation.SO3net`` with the fast layers (same constructor, same state dict).

    Keeps SchNetPack's class name, which the relevance engine uses to pick its adapter.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _accelerate_layers(self)

    def forward(self, inputs: Dict[str, torch.Tensor]):
        """SchNetPack's ``SO3net.forward``, except that the first convolution reads only the l = 0
        channel of the embedding (the others are zero) instead of a zero-padded copy."""
        p = spk.properties
        r_ij, idx_i, idx_j = inputs[p.Rij], inputs[p.idx_i], inputs[p.idx_j]
        d_ij = torch.norm(r_ij, dim=1, keepdim=True)
        Yij = self.sphharm(r_ij / d_ij)
        radial_ij = self.radial_basis(d_ij)
        cutoff_ij = self.cutoff_fn(d_ij)[..., None]

        x = self.embedding(inputs[p.Z])[:, None]  # [N, 1, F]: channels l > 0 are zero
        for so3conv, mixing1, mixing2, gating, mixing3 in zip(
                self.so3convs, self.mixings1, self.mixings2, self.gatings, self.mixings3):
            dx = so3conv(x, radial_ij, Yij, cutoff_ij, idx_i, idx_j)
            ddx = mixing1(dx)
            dx = dx + self.so3product(dx, ddx)
            dx = mixing2(dx)
            dx = gating(dx)
            dx = mixing3(dx)
            x = _padded(x, int(self.lmax)) + dx
        x = _padded(x, int(self.lmax))  # (no interactions)

        inputs["scalar_representation"] = x[:, 0]
        inputs["multipole_representation"] = x
        if self.return_vector_representation:  # cartesian vector from the l = 1 channels: [y, z, x] -> [x, y, z]
            inputs["vector_representation"] = torch.roll(x[:, 1:4], 1, 1)
        return inputs


def _padded(x: torch.Tensor, lmax: int) -> torch.Tensor:
    """``x`` with all (lmax+1)² channels: the scalar embedding padded with zeros as SchNetPack does."""
    return spk.nn.so3.scalar2rsh(x, lmax) if x.shape[1] == 1 and lmax > 0 else x


def _accelerate_layers(rep: spk.representation.SO3net) -> None:
    """Switch the spherical harmonics, convolutions, gates and tensor product of ``rep`` to the fast
    classes, in place."""
    if not isinstance(rep.sphharm, RealSphericalHarmonics):
        rep.sphharm.__class__ = RealSphericalHarmonics
    for conv in rep.so3convs:
        if not isinstance(conv, SO3Convolution):
            conv.__class__ = SO3Convolution
            conv._register_coupling()
    for gating in rep.gatings:
        if type(gating) is spk.nn.SO3ParametricGatedNonlinearity:
            gating.__class__ = SO3ParametricGatedNonlinearity
    if not isinstance(rep.so3product, SO3TensorProduct):
        rep.so3product.__class__ = SO3TensorProduct
        rep.so3product._register_coupling()


def accelerate(rep: spk.representation.SO3net) -> SO3net:
    """Make a stock ``spk.representation.SO3net`` (weights and all) use the fast layers, in place.

    Returns ``rep``, now an instance of :class:`SO3net`; its state dict is unchanged.
    """
    if not isinstance(rep, spk.representation.SO3net):
        raise TypeError(f"expected a SchNetPack SO3net, got {type(rep).__name__}")
    _accelerate_layers(rep)
    rep.__class__ = SO3net
    return rep
