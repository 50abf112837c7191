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
                                      proteins: amino-acid type, see ``cgexplain.core.residues``)
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

CG trajectories (the Langevin engine's, :mod:`cgexplain.simulate`, and the IMC production run's) are
read by :func:`load_trajectory`, here rather than in the engine so that light commands (observables)
need not import torch; :func:`load_frames_file` reads either kind. Every loader refuses a bad file
with a one-line :class:`cgexplain.core.errors.InputError` that names it and says what is wrong (missing,
unreadable or truncated, missing keys, shapes, no frames, non-finite values with the first bad frame,
implausible units); the command lines print it as ``cgexplain <command>: error: …``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..core.errors import InputError, MissingInputError
from ..core.runtime import save_npz

REQUIRED = ("coords", "forces", "box", "z", "masses", "train_idx", "val_idx")
OPTIONAL = ("time_ps", "periodic", "temperature_K", "replica", "bead_names", "bonds")

MAX_FORCE = 1e4  # kcal/mol/Å: larger mapped forces are a unit error or a blown-up frame
MIN_NEIGHBOUR_A = 0.5  # Å: a smaller median nearest-neighbour distance means nm (or collapsed beads)


class DatasetError(InputError):
    """A CG dataset file is missing, unreadable or inconsistent (the message names the file)."""


class TrajectoryError(InputError):
    """A CG trajectory file is missing, unreadable or inconsistent (the message names the file)."""


def read_npz(path: str | Path, what: str, error: type[InputError] = InputError) -> dict[str, np.ndarray]:
    """All arrays of the npz file ``path``, or one-line errors naming it: it does not exist, is not
    an npz file, or is truncated (``what`` names the kind of file in the message)."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{what} {path} does not exist")
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not an npz file")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # an npz file is a zip archive
        raise error(f"{what} {path}: not an npz file ("
                    + ("empty file)" if not magic else f"it starts with {magic!r}, not a zip archive's PK)"))
    try:
        with np.load(path, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}
    except zipfile.BadZipFile as e:
        why = f"not an npz file or truncated ({e})"
    except Exception as e:  # noqa: BLE001  (zlib, EOF, pickle, OS errors: all mean "cannot read it")
        why = f"cannot be read as npz, damaged or truncated ({type(e).__name__}: {' '.join(str(e).split())})"
    raise error(f"{what} {path}: {why}")


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
    """Load and check a CG dataset; ``periodic`` is always present (True for files without it).

    Refused with a one-line :class:`DatasetError` naming the file: a missing, unreadable or
    truncated file, missing keys, inconsistent shapes, indices out of range, no frames, non-finite
    coordinates or forces (the first bad frame named), non-positive masses or box lengths, and
    implausible units (forces above 1e4 kcal/mol/Å; coordinates that look like nm: beads closer
    than 0.5 Å to their nearest neighbour on median, or far outside the periodic box).
    """
    path = Path(path)
    return check_dataset(read_npz(path, "CG dataset", DatasetError), path)


def check_dataset(data: dict[str, np.ndarray], path: str | Path) -> dict[str, np.ndarray]:
    """The checks of :func:`load_dataset` on the arrays ``data`` read from ``path``."""
    path = Path(path)
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise DatasetError(f"CG dataset {path}: missing key(s) {missing}; expected {list(REQUIRED)}")
    data["periodic"] = np.asarray(data.get("periodic", True), dtype=bool)
    _check(data, path)
    _check_values(data, path)
    return data


TRAJECTORY_KEYS = ("coords", "box", "z")


def load_trajectory(path: str | Path) -> dict[str, np.ndarray]:
    """Load and check a CG trajectory npz (the engine's, :mod:`cgexplain.simulate`, or the IMC
    production run's): ``coords`` (R, F, N, 3) Å, ``box`` (3,) Å, ``z`` (N,), optionally ``masses``
    (N,), ``forces`` (R, F, N, 3), ``energies`` (R, F), ``periodic`` and the run's attributes.

    Refused with a one-line :class:`TrajectoryError` naming the file: a missing, unreadable or
    truncated file, missing keys, shapes that do not fit, no frames, non-finite coordinates (the
    first bad replica and frame named), a periodic box without finite positive lengths.
    """
    path = Path(path)
    return check_trajectory(read_npz(path, "CG trajectory", TrajectoryError), path)


def check_trajectory(d: dict[str, np.ndarray], path: str | Path) -> dict[str, np.ndarray]:
    """The checks of :func:`load_trajectory` on the arrays ``d`` read from ``path``."""
    path = Path(path)
    missing = [k for k in TRAJECTORY_KEYS if k not in d]
    if missing:
        raise TrajectoryError(f"CG trajectory {path}: missing key(s) {missing} (expected a cgexplain CG "
                              f"trajectory with {list(TRAJECTORY_KEYS)}; has {sorted(d)})")
    _numeric(d, ("coords", "box", "z", "masses", "forces", "energies"), path, TrajectoryError)
    X = d["coords"]
    if X.ndim != 4 or X.shape[-1] != 3:
        raise TrajectoryError(f"CG trajectory {path}: coords must have shape (replicas, frames, beads, 3), "
                              f"got {X.shape}")
    R, F, N = X.shape[:3]
    shapes = {"box": (3,), "z": (N,), "masses": (N,), "forces": X.shape, "energies": (R, F)}
    bad = [f"{k} {d[k].shape} (expected {s})" for k, s in shapes.items() if k in d and d[k].shape != s]
    if bad:
        raise TrajectoryError(f"CG trajectory {path}: shapes do not fit coords {X.shape}: " + ", ".join(bad))
    if R * F * N == 0:
        raise TrajectoryError(f"CG trajectory {path} contains no frames (coords {X.shape})")
    at = first_bad_frame(X, 2)
    if at is not None:
        n_bad = int((~np.isfinite(X).reshape(R, F, -1).all(-1)).sum())
        raise TrajectoryError(f"CG trajectory {path}: coords of replica {at[0]}, frame {at[1]} are non-finite "
                              f"(NaN or inf; {n_bad} of {R * F} frames affected)")
    box = np.asarray(d["box"], float)
    if bool(d.get("periodic", True)) and not (np.isfinite(box).all() and (box > 0).all()):
        raise TrajectoryError(f"CG trajectory {path}: box {box.tolist()} needs finite positive lengths in Å "
                              "(a trajectory with open boundaries has periodic False)")
    return d


def load_frames_file(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """A CG dataset or a CG trajectory, told apart by its keys (a dataset has ``train_idx``) and
    checked as :func:`load_dataset` or :func:`load_trajectory` do: (``"dataset"`` or
    ``"trajectory"``, arrays)."""
    path = Path(path)
    d = read_npz(path, "CG dataset or trajectory")
    if "train_idx" in d:
        return "dataset", check_dataset(d, path)
    return "trajectory", check_trajectory(d, path)


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


def _numeric(d: dict, keys, path: Path, error: type[InputError]) -> None:
    for k in keys:
        if k in d and not (np.issubdtype(d[k].dtype, np.number) or d[k].dtype == bool):
            raise error(f"{path}: {k} holds {d[k].dtype} values, expected numbers")


def first_bad_frame(x: np.ndarray, frame_axes: int = 1) -> tuple | None:
    """Index (over the first ``frame_axes`` axes) of the first frame of ``x`` with a non-finite
    value, or None when all values are finite."""
    ok = np.isfinite(x).reshape(*x.shape[:frame_axes], -1).all(-1)
    if ok.all():
        return None
    return tuple(int(i) for i in np.argwhere(~ok)[0])


def _check_values(d: dict, path: Path) -> None:
    """Emptiness, finiteness and units plausibility of a dataset whose shapes are consistent."""
    _numeric(d, ("coords", "forces", "box", "z", "masses", "train_idx", "val_idx"), path, DatasetError)
    X, Fr = d["coords"], d["forces"]
    F, N = X.shape[:2]
    if F == 0 or N == 0:
        raise DatasetError(f"CG dataset {path} contains no frames (coords {X.shape})")
    if len(d["train_idx"]) == 0:
        raise DatasetError(f"CG dataset {path}: train_idx is empty")
    for k, arr in (("coords", X), ("forces", Fr)):
        bad = first_bad_frame(arr)
        if bad is not None:
            n_bad = int((~np.isfinite(arr).reshape(F, -1).all(1)).sum())
            raise DatasetError(f"CG dataset {path}: {k} of frame {bad[0]} are non-finite (NaN or inf; "
                               f"{n_bad} of {F} frames affected)")
    masses = np.asarray(d["masses"], float)
    if not (np.isfinite(masses).all() and (masses > 0).all()):
        b = int(np.argwhere(~(np.isfinite(masses) & (masses > 0)))[0, 0])
        raise DatasetError(f"CG dataset {path}: mass of bead {b} is {masses[b]}; masses must be finite and "
                           "positive (amu)")
    if (np.asarray(d["z"]) < 0).any():
        raise DatasetError(f"CG dataset {path}: bead types z must be >= 0")
    fmax = float(np.abs(Fr).max())
    if fmax > MAX_FORCE:
        f_at = int(np.abs(Fr).reshape(F, -1).max(1).argmax())
        raise DatasetError(f"CG dataset {path}: forces up to {fmax:.3g} kcal/mol/Å (frame {f_at}) are "
                           f"implausibly large (> {MAX_FORCE:.0e} kcal/mol/Å); wrong units (kJ/mol/nm?) or a blown-up frame")
    periodic = bool(d.get("periodic", True))
    box = np.asarray(d["box"], float)
    if periodic:
        if not (np.isfinite(box).all() and (box > 0).all()):
            f_at = int(np.argwhere(~(np.isfinite(box) & (box > 0)).all(1))[0, 0])
            raise DatasetError(f"CG dataset {path}: box of frame {f_at} is {box[f_at].tolist()}; a periodic "
                               "box needs finite positive lengths in Å (set periodic False for open boundaries)")
        lo, hi = X.min(axis=1), X.max(axis=1)  # (F, 3)
        out = (lo < -box) | (hi > 2.0 * box)
        if out.any():
            f_at = int(np.argwhere(out.any(1))[0, 0])
            raise DatasetError(f"CG dataset {path}: coordinates of frame {f_at} span [{lo[f_at].min():.4g}, "
                               f"{hi[f_at].max():.4g}] but the box is {np.round(box[f_at], 4).tolist()} Å: "
                               "coordinates and box in different units (Å vs nm?)")
    nn = median_neighbour_distance(X[0], box[0] if periodic else None)
    if nn is not None and nn < MIN_NEIGHBOUR_A:
        raise DatasetError(f"CG dataset {path}: the median nearest-neighbour distance of frame 0 is {nn:.3g}, "
                           f"implausibly short for Å (< {MIN_NEIGHBOUR_A} Å): coordinates in nm, or overlapping beads")


def median_neighbour_distance(pos: np.ndarray, box=None, max_beads: int = 2000) -> float | None:
    """Median over beads of the distance to the nearest other bead (minimum image when ``box`` is
    given) in one frame (at most ``max_beads`` beads sampled); None for fewer than two beads."""
    pos = np.asarray(pos, float)
    n = len(pos)
    if n < 2:
        return None
    idx = np.arange(n) if n <= max_beads else np.linspace(0, n - 1, max_beads).astype(int)
    d = pos[idx, None, :] - pos[None, :, :]
    if box is not None:
        d -= box * np.round(d / box)
    r2 = (d * d).sum(-1)
    r2[np.arange(len(idx)), idx] = np.inf
    return float(np.sqrt(np.median(r2.min(1))))
