"""Import schnetpack 2.0.4 under torch 2.13.

schnetpack 2.0.4 imports ``T_co`` from ``torch.utils.data.dataloader``; torch renamed it to ``_T_co``.
This one alias is the only compatibility shim the project needs; every module imports schnetpack
through :func:`schnetpack` below so the alias lives in exactly one place.
"""

from __future__ import annotations

import torch.utils.data.dataloader as _dl

if not hasattr(_dl, "T_co") and hasattr(_dl, "_T_co"):
    _dl.T_co = _dl._T_co  # torch >= 2.x renamed the TypeVar; schnetpack 2.0.4 still uses the old name

import schnetpack as spk  # noqa: E402  (must come after the alias)

__all__ = ["spk"]
