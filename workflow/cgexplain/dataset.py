"""The CG dataset: the one file every route to reference data ends in, and the trainer reads.

Written by :func:`write_dataset` (atomically: a half-written file never carries the final name) and
read by :func:`load_dataset`; nothing else opens it. F frames, N beads:

================  ==================  ==========================================================
key               shape               meaning
================  ==================  ==========================================================
coords            (F, N, 3) f4        bead positions in Å (wrapped into [0, L) when periodic)
forces            (F, N, 3) f4        mapped CG forces in kcal/mol/Å
box               (F, 3) f4           orthorhombic box lengths in Å; zeros when not periodic
z                 (N,) i8             bead type (fluids: atomic number of the mapped atom;
                                      proteins: amino-acid type, see ``cgexplain.systems.protein``)
masses            (N,) f8             bead mass in amu
train_idx         (F_train,) i8       frames used for training
val_idx           (F_val,) i8         frames used for validation (early stopping)
time_ps           (F,) f8             time of each frame within its trajectory
================  ==================  ==========================================================

Optional keys (written when the system has them; absent in the fluids' files):

================  ==================  ==========================================================
periodic          () bool             False for open boundaries (default True)
temperature_K     () f8               temperature of the reference data
replica           (F,) i8             trajectory each frame belongs to (frames are in time order
                                      within a trajectory)
bead_names        (N,) U4             residue names of the beads (proteins), e.g. ``MET``
bonds             (n_bonds, 2) i8     bonded bead pairs (chain topology for priors and figures)
================  ==================  ==========================================================
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .runtime import save_npz

REQUIRED = ("coords", "forces", "box", "z", "masses", "train_idx", "val_idx")
OPTIONAL = ("time_ps", "periodic", "temperature_K", "replica", "bead_names", "bonds")


class DatasetError(ValueError):
    """A CG dataset file is missing, unreadable or inconsistent (the message names the file)."""


def write_dataset(path: str | Path, *, coords, forces, box, z, masses, train_idx, val_idx,
                  time_ps=None, **optional) -> Path:
    """Write a CG dataset (see the module docstring) atomically; returns the path."""
    unknown = sorted(set(optional) - set(OPTIONAL))
    if unknown:
        raise TypeError(f"unknown dataset key(s) {unknown}; optional keys are {OPTIONAL}")
    path = Path(path)
    F = len(coords)
    arrays = dict(coords=np.asarray(coords, np.float32), forces=np.asarray(forces, np.float32),
                  box=np.asarray(box, np.float32), z=np.asarray(z, np.int64),
                  masses=np.asarray(masses, np.float64), train_idx=np.asarray(train_idx, np.int64),
                  val_idx=np.asarray(val_idx, np.int64),
                  time_ps=np.asarray(np.arange(F) if time_ps is None else time_ps, np.float64))
    arrays.update({k: np.asarray(v) for k, v in optional.items() if v is not None})
    _check(arrays, path)
    return save_npz(path, **arrays)


def load_dataset(path: str | Path) -> dict[str, np.ndarray]:
    """Load and check a CG dataset; ``periodic`` is always present (True for files without it)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"CG dataset {path} does not exist")
    try:
        with np.load(path) as d:
            data = {k: d[k] for k in d.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DatasetError(f"{path}: not a readable CG dataset ({type(e).__name__}: {e})") from None
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise DatasetError(f"{path}: missing key(s) {missing}; expected {REQUIRED}")
    data["periodic"] = np.asarray(data.get("periodic", True), dtype=bool)
    _check(data, path)
    return data


def frame_boxes(data: dict) -> np.ndarray | None:
    """The (F, 3) boxes of a loaded dataset, or None for open boundaries."""
    return np.asarray(data["box"]) if bool(data.get("periodic", True)) else None


def _check(d: dict, path: Path) -> None:
    F, N = d["coords"].shape[:2] if d["coords"].ndim == 3 else (-1, -1)
    shapes = {"coords": (F, N, 3), "forces": (F, N, 3), "box": (F, 3), "z": (N,), "masses": (N,)}
    bad = [f"{k} {d[k].shape}" for k, s in shapes.items() if d[k].shape != s]
    if F < 0 or bad:
        raise DatasetError(f"{path}: inconsistent shapes: coords {d['coords'].shape}; "
                           f"expected coords (F, N, 3), forces (F, N, 3), box (F, 3), z (N,), masses (N,); got "
                           + ", ".join(bad))
    for k in ("train_idx", "val_idx"):
        idx = d[k]
        if idx.ndim != 1 or (len(idx) and (idx.min() < 0 or idx.max() >= F)):
            raise DatasetError(f"{path}: {k} must index the {F} frames")
    if "replica" in d and d["replica"].shape != (F,):
        raise DatasetError(f"{path}: replica must have shape ({F},), got {d['replica'].shape}")
    if "bonds" in d and (d["bonds"].ndim != 2 or d["bonds"].shape[1:] != (2,)):
        raise DatasetError(f"{path}: bonds must have shape (n_bonds, 2), got {d['bonds'].shape}")
