"""(De)serialisation of prior energy modules stored in model files.

Only the NTL9 stage uses priors; the fluids store ``None``. Prior classes register themselves in
``REGISTRY`` with a ``to_dict``/``from_dict`` pair.
"""

from __future__ import annotations

from torch import nn

REGISTRY: dict[str, type] = {}


def prior_to_dict(prior: nn.Module | None) -> dict | None:
    if prior is None:
        return None
    return {"kind": type(prior).__name__, "params": prior.to_dict()}


def prior_from_dict(d: dict | None) -> nn.Module | None:
    if d is None:
        return None
    if d["kind"] not in REGISTRY:
        raise ValueError(f"unknown prior kind {d['kind']!r} in model file; known: {sorted(REGISTRY)}")
    return REGISTRY[d["kind"]].from_dict(d["params"])
