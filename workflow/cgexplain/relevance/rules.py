"""The generalized γ-rule of the published GNN-LRP code, applied to SchNetPack ``Dense`` layers.

For a ``Dense`` layer z = W·x + b, a = act(z) whose activation is not the identity, with
x⁺ = max(x, 0), x⁻ = min(x, 0), W± = max/min(W, 0), b± = max/min(b, 0):

* where a > 1e-6:  n = (W + γW⁺)·x⁺ + (W + γW⁻)·x⁻ + (b + γb⁺);  d = max((W + γW⁺)·x⁺ + (W + γW⁻)·x⁻, b + γb⁺)
* where a < −1e-6: n = (W + γW⁻)·x⁺ + (W + γW⁺)·x⁻ + (b + γb⁻);  d = min((W + γW⁻)·x⁺ + (W + γW⁺)·x⁻, b + γb⁻)
* elsewhere n = d = 0.

The layer's backward pass is that of n · stopgrad(a / d) (0 where d = 0), while its forward value stays
exactly a (unlike the published code, which keeps n·a/d as the value; relevances are identical).
Every other layer passes the ordinary gradient. :func:`lrp_rules` switches the rule on for all
qualifying layers of a module tree and restores the original ``forward`` on exit.
"""

from __future__ import annotations

import contextlib
import types

import torch
import torch.nn.functional as F
from torch import nn

from ..core.compat import spk

EPS = 1e-6


def gamma_dense(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, activation,
                gamma: float) -> torch.Tensor:
    """Value act(W·x + b); gradient of the generalized γ-rule (see module docstring)."""
    z = F.linear(x, weight, bias)
    a = activation(z)
    wp, wm = weight.clamp(min=0), weight.clamp(max=0)
    xp = x.clamp(min=0)
    xm = x - xp  # not clamp(max=0): at x == 0 both clamps would pass the gradient
    if bias is None:
        bias = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
    bp, bm = bias.clamp(min=0), bias.clamp(max=0)
    w_up, w_dn = weight + gamma * wp, weight + gamma * wm
    z_pos = F.linear(xp, w_up) + F.linear(xm, w_dn)  # favours positive contributions (a > 0)
    z_neg = F.linear(xp, w_dn) + F.linear(xm, w_up)  # favours negative contributions (a < 0)
    b_pos, b_neg = bias + gamma * bp, bias + gamma * bm
    with torch.no_grad():
        up, dn = a > EPS, a < -EPS
        d = torch.where(up, torch.maximum(z_pos, b_pos),
                        torch.where(dn, torch.minimum(z_neg, b_neg), torch.zeros_like(a)))
        s = torch.where(d != 0, a / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(a))
    n = torch.where(up, z_pos + b_pos, torch.where(dn, z_neg + b_neg, torch.zeros_like(a)))
    ns = n * s
    return a.detach() + (ns - ns.detach())


def _has_activation(m: nn.Module) -> bool:
    act = getattr(m, "activation", None)
    return act is not None and not isinstance(act, nn.Identity)


def rule_layers(module: nn.Module) -> list[nn.Module]:
    """The ``Dense`` layers of ``module`` that get the γ-rule (those with an activation)."""
    return [m for m in module.modules() if isinstance(m, spk.nn.Dense) and _has_activation(m)]


@contextlib.contextmanager
def lrp_rules(module: nn.Module, gamma: float):
    """Within the block, every ``Dense`` layer with an activation in ``module`` applies the γ-rule."""
    layers = rule_layers(module)
    saved = []
    for m in layers:
        saved.append((m, m.__dict__.get("forward")))

        def fwd(self, x, _g=float(gamma)):
            return gamma_dense(x, self.weight, self.bias, self.activation, _g)

        m.forward = types.MethodType(fwd, m)
    try:
        yield layers
    finally:
        for m, old in saved:
            if old is None:
                del m.forward
            else:
                m.forward = old
