"""Prior energies for delta learning, ``E(R) = U_net(R) + U_prior(R)``, as a registry of kinds.

Only the protein stage (NTL9) uses a prior; the fluids store ``None``. The network is trained on
the residual forces ``F_ref − F_prior`` (see :func:`prior_energy_forces`) and the model file keeps
the prior next to the network weights (``prior_to_dict`` / ``prior_from_dict``, used by
:mod:`cgexplain.nn.models`).

The contract a prior kind fulfils (one :class:`Prior` subclass, decorated with :func:`register`):

* ``kind`` (class attribute) → the registry key, e.g. ``"protein_ca"``; it is what the config
  block ``systems.<name>.prior.kind`` names and what model files store.
* ``forward(pos, box)`` → energies ``(B,)`` in kcal/mol for positions ``pos`` of shape
  ``(B, N, 3)`` in Å; differentiable in ``pos`` (forces by autograd), vectorised over the batch
  (it runs at every step of a Langevin simulation). ``box`` is ``None`` for open boundaries; a kind
  that does not support periodic boxes raises ``ValueError`` for any other value.
* ``to_dict()`` → the fitted parameters as JSON-serialisable data (dicts, lists, floats, ints,
  strings); ``from_dict(d)`` (classmethod) rebuilds an identical prior from it (also after the
  dict went through ``torch.save``/``torch.load``).
* ``fit(data, params, temperature_K)`` (classmethod) → a prior fitted on a loaded CG dataset
  (:func:`cgexplain.data.dataset.load_dataset`: ``coords`` (F, N, 3) Å, ``z`` (N,), ``train_idx``,
  ``bonds`` (n_bonds, 2), …), using the training frames ``coords[train_idx]`` only. ``params`` is
  the config block ``systems.<name>.prior`` without its ``kind`` key; unknown keys are an error.
* ``describe()`` → one row per fitted parameter set, ``{"term": "bond" | "angle" | "dihedral" |
  "repulsion" | …, "types": "MET-LYS", "params": {...}, "n_samples": int}`` (for tables and
  reports; bead-type names from :func:`cgexplain.core.residues.type_names`).

Parameters live in registered buffers, so ``.to(device, dtype)`` moves and casts a prior with the
model it belongs to. A new kind is one module in this package (imported at the end of this file so
that it is always registered) or any module that imports :func:`register`.
"""

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

from . import protein  # noqa: E402,F401  (registers "protein_ca"; imported last: it imports Prior)
