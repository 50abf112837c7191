"""Frames of any trajectory, in the engine's units: the one reader of ``cgexplain explain``'s input.

:func:`read_frames` returns :class:`Frames` — coordinates (F, N, 3) in Å, orthorhombic box lengths
(F, 3) in Å or None for open boundaries, and bead types when the file knows them — from

* the workflow's own npz files (a CG dataset or a CG trajectory, through the checking loaders of
  :mod:`cgexplain.data.dataset`; a trajectory's replicas are flattened replica-major);
* any format mdtraj reads (XTC, DCD, TRR, NetCDF, mdtraj HDF5, PDB, …; nm converted to Å); formats
  without a topology (XTC, DCD, TRR, …) need one (``top``: a PDB, GRO, PSF or mdtraj HDF5 file);
* extended XYZ (and the other formats ASE reads as ``.xyz``/``.extxyz``, ``.traj``), in Å.

Bead types (:func:`bead_types`): ``"element"`` (atomic numbers of the topology's elements), ``"residue"``
(one type per amino acid, as the project's Cα models use: :func:`cgexplain.core.residues.residue_type`),
one integer for every bead, or a comma-separated list of N integers. Boxes: the file's, unless ``box`` is
given (three lengths in Å for every frame, or ``"none"`` for open boundaries). Triclinic boxes and
partly periodic cells are refused in one line (:class:`cgexplain.core.errors.InputError`).

:func:`select` picks frames: ``spec`` as ``"0,5,10-20"`` (inclusive ranges) or ``"start:stop:step"``
(Python slice), then every ``stride``-th frame of that selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError, MissingInputError

NM = 10.0  # Å per nm
ASE_SUFFIXES = (".xyz", ".extxyz", ".traj")
NPZ_SUFFIXES = (".npz",)


@dataclass
class Frames:
    """Frames read from one file."""

    coords: np.ndarray            # (F, N, 3) Å, float64
    boxes: np.ndarray | None      # (F, 3) Å, or None: open boundaries
    z: np.ndarray | None          # (N,) bead types, or None when the file does not say
    path: str
    kind: str                     # "dataset" | "trajectory" | "mdtraj" | "ase"
    elements: np.ndarray | None = None   # (N,) atomic numbers (0: unknown), mdtraj/ASE files
    residues: np.ndarray | None = None   # (N,) residue names, mdtraj topologies

    @property
    def n_frames(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_beads(self) -> int:
        return int(self.coords.shape[1])


def read_frames(path: str | Path, top: str | Path | None = None, box=None) -> Frames:
    """Read every frame of ``path`` (see the module docstring); ``box`` overrides the file's box."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"trajectory {path} does not exist")
    if top is not None and not Path(top).exists():
        raise MissingInputError(f"topology {top} does not exist")
    suffix = path.suffix.lower()
    if suffix in NPZ_SUFFIXES:
        fr = _read_npz(path)
    elif suffix in ASE_SUFFIXES:
        fr = _read_ase(path)
    else:
        fr = _read_mdtraj(path, top)
    if fr.n_frames == 0 or fr.n_beads == 0:
        raise InputError(f"trajectory {path} holds no frames (coords {fr.coords.shape})")
    if not np.isfinite(fr.coords).all():
        f = int(np.flatnonzero(~np.isfinite(fr.coords).reshape(fr.n_frames, -1).all(1))[0])
        raise InputError(f"trajectory {path}: coordinates of frame {f} are non-finite (NaN or inf)")
    if box is not None:
        fr.boxes = _box_option(box, fr.n_frames)
    return fr


def _box_option(box, n_frames: int) -> np.ndarray | None:
    if isinstance(box, str):
        if box.strip().lower() == "none":
            return None
        box = box.replace(",", " ").split()
    try:
        b = np.asarray([float(v) for v in box], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"--box {box!r}: expected three lengths in Å (LX LY LZ) or 'none'") from None
    if b.shape != (3,) or not (np.isfinite(b).all() and (b > 0).all()):
        raise InputError(f"--box {box!r}: expected three positive lengths in Å (LX LY LZ) or 'none'")
    return np.broadcast_to(b, (n_frames, 3)).copy()


def _read_npz(path: Path) -> Frames:
    from .dataset import frame_boxes, load_frames_file

    kind, d = load_frames_file(path)
    if kind == "dataset":
        coords, boxes = d["coords"], frame_boxes(d)
    else:
        coords = d["coords"].reshape(-1, d["coords"].shape[-2], 3)
        periodic = bool(d["periodic"]) if "periodic" in d else True
        boxes = np.broadcast_to(d["box"].reshape(1, 3), (coords.shape[0], 3)).copy() if periodic else None
    boxes = None if boxes is None else np.asarray(boxes, np.float64)
    return Frames(np.asarray(coords, np.float64), boxes, np.asarray(d["z"]).reshape(-1).astype(np.int64),
                  str(path), kind)


def _orthorhombic(lengths: np.ndarray, angles: np.ndarray, path: Path, triclinic=None) -> np.ndarray:
    """(F, 3) box lengths; refuses triclinic cells in one line naming the first such frame."""
    bad = np.abs(angles - 90.0).max(axis=1) > 1e-3
    if triclinic is not None:
        bad |= np.asarray(triclinic, bool)
    if bad.any():
        f = int(np.flatnonzero(bad)[0])
        raise InputError(f"trajectory {path}: frame {f} has a triclinic box (angles "
                         f"{', '.join(f'{a:.4g}' for a in angles[f])}°); cgexplain explain supports orthorhombic "
                         "boxes or open boundaries (--box none)")
    if not (np.isfinite(lengths).all() and (lengths > 0).all()):
        raise InputError(f"trajectory {path}: box lengths must be finite and positive")
    return np.asarray(lengths, np.float64)


def _read_mdtraj(path: Path, top) -> Frames:
    import mdtraj as md

    try:
        traj = md.load(str(path), top=None if top is None else str(top))
    except Exception as e:  # noqa: BLE001  (mdtraj raises many types for unreadable or topology-less files)
        msg = " ".join(str(e).split())[:200]
        hint = "" if top is not None else " (formats without a topology, such as XTC or DCD, need --top)"
        raise InputError(f"trajectory {path} cannot be read by mdtraj: {type(e).__name__}: {msg}{hint}") from None
    boxes = None
    if traj.unitcell_lengths is not None:
        boxes = _orthorhombic(traj.unitcell_lengths * NM, traj.unitcell_angles, path)
    atoms = list(traj.topology.atoms)
    elements = np.array([a.element.number if a.element is not None else 0 for a in atoms], dtype=np.int64)
    residues = np.array([a.residue.name for a in atoms], dtype=str)
    return Frames(np.asarray(traj.xyz, np.float64) * NM, boxes, None, str(path), "mdtraj", elements, residues)


def _read_ase(path: Path) -> Frames:
    import ase.io

    try:
        images = ase.io.read(str(path), index=":")
    except Exception as e:  # noqa: BLE001
        msg = " ".join(str(e).split())[:200]
        raise InputError(f"trajectory {path} cannot be read by ASE: {type(e).__name__}: {msg}") from None
    if not images:
        raise InputError(f"trajectory {path} holds no frames")
    n = {len(a) for a in images}
    if len(n) != 1:
        raise InputError(f"trajectory {path}: frames hold different numbers of beads {sorted(n)}")
    coords = np.stack([a.get_positions() for a in images]).astype(np.float64)
    pbc = np.array([a.pbc for a in images])
    boxes = None
    if pbc.any():
        if not pbc.all():
            f = int(np.flatnonzero(~pbc.all(1))[0])
            raise InputError(f"trajectory {path}: frame {f} is periodic along some axes only (pbc "
                             f"{pbc[f].tolist()}); cgexplain explain supports fully periodic orthorhombic boxes "
                             "or open boundaries")
        cells = np.stack([np.asarray(a.cell.array, np.float64) for a in images])
        diag = np.einsum("fii->fi", cells)
        off = np.abs(cells - diag[:, :, None] * np.eye(3)).max(axis=(1, 2))
        angles = np.stack([a.cell.angles() for a in images])
        boxes = _orthorhombic(diag, angles, path, triclinic=off > 1e-6)
    numbers = np.asarray(images[0].numbers, dtype=np.int64)
    return Frames(coords, boxes, None, str(path), "ase", numbers)


def bead_types(frames: Frames, types: str | None) -> np.ndarray | None:
    """Bead types (N,) for ``types`` (see the module docstring); None: the file's (npz) or, for
    topologies with elements on every bead, the atomic numbers; None if neither is known."""
    N = frames.n_beads
    if types is None:
        if frames.z is not None:
            return frames.z
        if frames.elements is not None and (frames.elements > 0).all():
            return frames.elements
        return None
    key = str(types).strip()
    if key == "element":
        if frames.elements is None or not (frames.elements > 0).all():
            raise InputError(f"--types element: {frames.path} does not give an element for every bead")
        return frames.elements
    if key == "residue":
        from ..core.residues import residue_type

        if frames.residues is None:
            raise InputError(f"--types residue: {frames.path} has no residue names (give a topology)")
        try:
            return np.array([residue_type(r) for r in frames.residues], dtype=np.int64)
        except ValueError as e:
            raise InputError(f"--types residue: {frames.path}: {e}") from None
    try:
        vals = [int(v) for v in key.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise InputError(f"--types {types!r}: expected 'element', 'residue', one integer or {N} "
                         "comma-separated integers") from None
    if len(vals) == 1:
        vals = vals * N
    if len(vals) != N or min(vals) < 1:
        raise InputError(f"--types {types!r}: {len(vals)} positive bead types given, {frames.path} has {N} beads")
    return np.asarray(vals, dtype=np.int64)


def select(n_total: int, spec: str | None = None, stride: int = 1) -> np.ndarray:
    """Frame indices of ``spec`` ("0,5,10-20" or "start:stop:step"; all frames when None), then every
    ``stride``-th of them."""
    if stride < 1:
        raise InputError(f"--stride must be a positive integer, got {stride}")
    if spec is None or not str(spec).strip():
        idx = np.arange(n_total)
    elif ":" in spec:
        try:
            parts = [int(p) if p.strip() else None for p in spec.split(":")]
            idx = np.arange(n_total)[slice(*parts)]
        except (TypeError, ValueError):
            raise InputError(f"--frames {spec!r}: expected start:stop[:step] with integers") from None
    else:
        idx = []
        try:
            for item in spec.split(","):
                a, _, b = item.strip().partition("-")
                idx.extend(range(int(a), int(b) + 1) if b else [int(a)])
        except ValueError:
            raise InputError(f"--frames {spec!r}: expected comma-separated frame numbers or ranges "
                             "such as 0,5,10-20 (or start:stop:step)") from None
        idx = np.asarray(idx, dtype=np.int64)
        out = idx[(idx < 0) | (idx >= n_total)]
        if len(out):
            raise InputError(f"--frames {spec!r}: frame {int(out[0])} is outside the trajectory's "
                             f"{n_total} frames (0..{n_total - 1})")
    idx = np.asarray(idx, dtype=np.int64)[::stride]
    if len(idx) == 0:
        raise InputError(f"--frames {spec!r} --stride {stride} selects no frame of {n_total}")
    return idx


__all__ = ["Frames", "bead_types", "read_frames", "select"]
