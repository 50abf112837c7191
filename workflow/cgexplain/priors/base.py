"""The prior contract (:class:`Prior`), its registry of kinds, the prior file and the delta-learning forces."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class Prior(nn.Module):
    """Base class of prior energies; see the module docstring for the contract."""

    kind: ClassVar[str] = ""

    def forward(self, pos: torch.Tensor, box: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict) -> "Prior":  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def fit(cls, data: dict, params: dict, temperature_K: float) -> "Prior":  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> list[dict]:  # pragma: no cover - interface
        raise NotImplementedError


#: kind → Prior subclass
REGISTRY: dict[str, type[Prior]] = {}


def register(cls: type[Prior]) -> type[Prior]:
    """Class decorator: add a :class:`Prior` subclass to :data:`REGISTRY` under its ``kind``."""
    kind = getattr(cls, "kind", "")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute 'kind' to be registered")
    if kind in REGISTRY and REGISTRY[kind] is not cls:
        raise ValueError(f"prior kind {kind!r} is already registered by {REGISTRY[kind].__name__}")
    REGISTRY[kind] = cls
    return cls


def _lookup(kind, where: str) -> type[Prior]:
    if kind not in REGISTRY:
        raise ValueError(f"unknown prior kind {kind!r}{where}; known kinds: {sorted(REGISTRY)}")
    return REGISTRY[kind]


def prior_to_dict(prior: Prior | None) -> dict | None:
    """``{"kind": prior.kind, "params": prior.to_dict()}``, or None for no prior."""
    if prior is None:
        return None
    kind = getattr(prior, "kind", None)
    if kind not in REGISTRY or not isinstance(prior, REGISTRY[kind]):
        raise TypeError(f"{type(prior).__name__} is not a registered prior kind; known: {sorted(REGISTRY)}")
    return {"kind": kind, "params": prior.to_dict()}


def prior_from_dict(d: dict | None) -> Prior | None:
    """Inverse of :func:`prior_to_dict` (None stays None)."""
    if d is None:
        return None
    return _lookup(d.get("kind"), " in model file").from_dict(d["params"])


def fit_prior(kind: str, data: dict, params: dict | None, temperature_K: float) -> Prior:
    """Fit a prior of the registered ``kind`` on the training frames of a loaded CG dataset.

    ``params`` is the config block ``systems.<name>.prior``; a ``kind`` key in it is ignored.
    """
    cls = _lookup(kind, "")
    params = {k: v for k, v in dict(params or {}).items() if k != "kind"}
    return cls.fit(data, params, float(temperature_K))


PRIOR_FORMAT = "cgexplain-prior/1"


def write_prior_file(path, prior: "Prior", meta: dict) -> None:
    """The prior file (``prior.pt``): ``format``, ``prior`` (:func:`prior_to_dict`) and ``meta``."""
    from ..core.runtime import save_payload

    save_payload(path, {"format": PRIOR_FORMAT, "prior": prior_to_dict(prior), "meta": meta})


def read_prior_file(path) -> "Prior":
    from ..core.runtime import read_payload

    return prior_from_dict(read_payload(path, PRIOR_FORMAT, "prior file")["prior"])


def prior_energy_forces(prior: Prior | None, pos: torch.Tensor, box: torch.Tensor | None = None):
    """The prior's energies (B,) and forces (B, N, 3) = −∂U_prior/∂pos on their own, detached.

    Used for delta learning (the network trains on ``F_ref − F_prior``). ``prior=None`` gives zeros.
    """
    pos = torch.as_tensor(pos)
    if prior is None:
        return pos.new_zeros(pos.shape[0]), torch.zeros_like(pos)
    with torch.enable_grad():
        x = pos.detach().requires_grad_(True)
        e = prior(x, box)
        (g,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), -g


__all__ = ["Prior", "REGISTRY", "register", "prior_to_dict", "prior_from_dict", "fit_prior",
           "prior_energy_forces"]
