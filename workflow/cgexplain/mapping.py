"""CG mapping: one bead per molecule at its central atom (C or O), "basic aggregated" forces.

The CG force on a bead is the sum of the force-field forces on all atoms of its molecule; with X–H
bonds constrained, this map is consistent with force matching (constraint forces are internal to a
molecule and cancel in the sum).

Output ``dataset.npz`` — the dataset the models train from:

============  ==================  ==================================================
key           shape               meaning
============  ==================  ==================================================
coords        (F, N, 3) f4        bead positions in Å, wrapped into [0, L) per axis
forces        (F, N, 3) f4        aggregated CG forces in kcal/mol/Å
box           (F, 3) f4           orthorhombic box lengths in Å
z             (N,) i8             bead type (atomic number of the central atom: 6 C, 8 O)
masses        (N,) f8             bead mass = molecule mass in amu
train_idx     (F_train,) i8       frames used for training
val_idx       (F_val,) i8         frames used for validation (early stopping)
time_ps       (F,) f8             time of each frame
============  ==================  ==================================================
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

ELEMENT_Z = {"C": 6, "O": 8, "N": 7, "S": 16, "H": 1}


def aggregate(coords: np.ndarray, forces: np.ndarray, molecule: np.ndarray, bead_atom: np.ndarray):
    """Bead positions (the central atoms) and summed forces per molecule.

    coords, forces: (F, n_atoms, 3); molecule: (n_atoms,) molecule index 0..N-1;
    bead_atom: (N,) index of each molecule's central atom.
    """
    n_mol = len(bead_atom)
    if molecule.min() < 0 or molecule.max() >= n_mol:
        raise ValueError(f"molecule indices must lie in [0, {n_mol}), got [{molecule.min()}, {molecule.max()}]")
    pos = coords[:, bead_atom, :]
    f = np.zeros((forces.shape[0], n_mol, 3), dtype=np.float64)
    np.add.at(f, (slice(None), molecule), forces.astype(np.float64))
    return pos, f.astype(np.float32)


def wrap_positions(pos: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Wrap (F, N, 3) positions into [0, L) with per-frame box (F, 3)."""
    b = box[:, None, :]
    w = pos - b * np.floor(pos / b)
    return np.where(w >= b, w - b, w)  # guard the rounding edge x == L


def split_indices(n_frames: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of the frames (both non-empty)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"cg.val_fraction must lie in (0, 1), got {val_fraction}")
    if n_frames < 2:
        raise ValueError(f"need at least 2 frames to split, got {n_frames}")
    perm = np.random.default_rng(seed).permutation(n_frames)
    n_val = min(max(1, int(round(val_fraction * n_frames))), n_frames - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def map_trajectory(traj: Path, out: Path, val_fraction: float, seed: int, chunk: int = 1000) -> dict:
    traj, out = Path(traj), Path(out)
    if not traj.exists():
        raise FileNotFoundError(f"AA trajectory {traj} does not exist")
    with h5py.File(traj, "r") as h5:
        for k in ("coords", "forces", "box", "masses", "molecule", "bead_atom", "elements"):
            if k not in h5:
                raise KeyError(f"{traj}: dataset '{k}' missing (not a cgexplain AA trajectory?)")
        molecule, bead_atom = h5["molecule"][:], h5["bead_atom"][:]
        masses = np.zeros(len(bead_atom))
        np.add.at(masses, molecule, h5["masses"][:])
        z = np.array([ELEMENT_Z[e.decode()] for e in h5["elements"][:][bead_atom]], dtype=np.int64)
        F = h5["coords"].shape[0]
        pos = np.empty((F, len(bead_atom), 3), np.float32)
        frc = np.empty_like(pos)
        for s in range(0, F, chunk):
            p, f = aggregate(h5["coords"][s:s + chunk], h5["forces"][s:s + chunk], molecule, bead_atom)
            pos[s:s + chunk], frc[s:s + chunk] = p, f
        box = h5["box"][:].astype(np.float32)
        time_ps = h5["time_ps"][:]
    pos = wrap_positions(pos, box).astype(np.float32)
    train_idx, val_idx = split_indices(F, val_fraction, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, coords=pos, forces=frc, box=box, z=z, masses=masses, train_idx=train_idx,
             val_idx=val_idx, time_ps=time_ps)
    tmp.replace(out)
    return {"frames": F, "beads": len(bead_atom), "train": len(train_idx), "val": len(val_idx)}


DATASET_KEYS = ("coords", "forces", "box", "z", "masses", "train_idx", "val_idx")


def load_dataset(path: str | Path) -> dict[str, np.ndarray]:
    """Load and check a CG dataset written by :func:`map_trajectory`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"CG dataset {path} does not exist")
    with np.load(path) as d:
        missing = [k for k in DATASET_KEYS if k not in d]
        if missing:
            raise KeyError(f"{path}: missing key(s) {missing}; expected {DATASET_KEYS}")
        data = {k: d[k] for k in d.files}
    F, N = data["coords"].shape[:2]
    if data["forces"].shape != (F, N, 3) or data["box"].shape != (F, 3) or data["z"].shape != (N,):
        raise ValueError(f"{path}: inconsistent shapes coords {data['coords'].shape}, forces "
                         f"{data['forces'].shape}, box {data['box'].shape}, z {data['z'].shape}")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain map", description="Map an AA trajectory to the CG dataset.")
    ap.add_argument("--traj", required=True, type=Path, help="AA trajectory.h5 from `cgexplain md`")
    ap.add_argument("--out", required=True, type=Path, help="dataset.npz to write")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    info = map_trajectory(a.traj, a.out, a.val_fraction, a.seed)
    print(f"mapped {info}", file=sys.stderr)
    return 0
