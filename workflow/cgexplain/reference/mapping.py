"""CG mapping of all-atom reference trajectories: the system's CG map applied frame by frame.

The system module (:mod:`cgexplain.systems`) decides the map — which atom each bead sits on, whose
forces add up to each bead's force, the bead types. This module reads the reference trajectory files
(:mod:`cgexplain.reference.reference_md`, one per replica), applies the map in chunks, wraps positions into
the box for periodic systems, splits the frames into training and validation sets and writes the CG
dataset (:mod:`cgexplain.data.dataset`, the format every route to reference data ends in).

For the fluids the map is "basic aggregated" (all forces of a molecule on its central atom's bead);
for proteins it is the Cα atom plus the hydrogens constrained to it. With those constraints the
mapped forces are consistent with force matching: constraint forces cancel within a bead's atoms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

from ..data.dataset import load_dataset, write_dataset  # noqa: F401  (load_dataset: the reader, re-exported)
from ..data.sampling import split_indices
from ..systems import AtomTable, System, get_system


def aggregate(coords: np.ndarray, forces: np.ndarray, force_bead: np.ndarray, bead_atom: np.ndarray):
    """Bead positions (the bead atoms) and summed forces per bead.

    coords, forces: (F, n_atoms, 3); force_bead: (n_atoms,) bead index 0..N-1 of each atom, -1 for
    atoms whose force no bead carries; bead_atom: (N,) index of each bead's atom.
    """
    n_beads = len(bead_atom)
    keep = force_bead >= 0
    if force_bead.max() >= n_beads:
        raise ValueError(f"bead indices must lie in [0, {n_beads}), got max {force_bead.max()}")
    pos = coords[:, bead_atom, :]
    f = np.zeros((forces.shape[0], n_beads, 3), dtype=np.float64)
    src = forces if keep.all() else forces[:, keep]
    np.add.at(f, (slice(None), force_bead[keep]), src.astype(np.float64))
    return pos, f.astype(np.float32)


def wrap_positions(pos: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Wrap (F, N, 3) positions into [0, L) with per-frame box (F, 3)."""
    b = box[:, None, :]
    w = pos - b * np.floor(pos / b)
    return np.where(w >= b, w - b, w)  # guard the rounding edge x == L


def _text(a: np.ndarray) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in a])


def read_atom_table(h5: h5py.File, path: Path) -> AtomTable:
    """The per-atom tables of a reference trajectory file (older files lack names and bonds)."""
    for k in ("coords", "forces", "box", "masses", "molecule", "elements"):
        if k not in h5:
            raise KeyError(f"{path}: dataset '{k}' missing (not a cgexplain AA trajectory?)")
    opt = {k: (h5[k][:] if k in h5 else None) for k in ("atom_names", "residue_names", "bonds")}
    return AtomTable(masses=h5["masses"][:], elements=_text(h5["elements"][:]), residue=h5["molecule"][:],
                     atom_names=None if opt["atom_names"] is None else _text(opt["atom_names"]),
                     residue_names=None if opt["residue_names"] is None else _text(opt["residue_names"]),
                     bonds=opt["bonds"])


def _map_file(path: Path, system: System, chunk: int):
    with h5py.File(path, "r") as h5:
        atoms = read_atom_table(h5, path)
        cg = system.cg_map(atoms)
        F = h5["coords"].shape[0]
        pos = np.empty((F, len(cg.bead_atom), 3), np.float32)
        frc = np.empty_like(pos)
        for s in range(0, F, chunk):
            pos[s:s + chunk], frc[s:s + chunk] = aggregate(h5["coords"][s:s + chunk], h5["forces"][s:s + chunk],
                                                           cg.force_bead, cg.bead_atom)
        extra = {"box": h5["box"][:].astype(np.float32), "time_ps": h5["time_ps"][:],
                 "temperature_K": h5.attrs.get("temperature_K")}
    return cg, cg.bead_masses(atoms.masses), pos, frc, extra


def map_trajectory(system: System | str, trajs: list[Path] | Path, out: Path, val_fraction: float, seed: int,
                   chunk: int = 1000) -> dict:
    """Map the reference trajectory file(s) of ``system`` (one per replica) to the CG dataset ``out``."""
    system = get_system(system) if isinstance(system, str) else system
    trajs = [Path(t) for t in ([trajs] if isinstance(trajs, (str, Path)) else trajs)]
    if not trajs:
        raise ValueError("no reference trajectory given")
    for t in trajs:
        if not t.exists():
            raise FileNotFoundError(f"AA trajectory {t} does not exist")
    parts = [_map_file(t, system, chunk) for t in trajs]
    cg, masses = parts[0][0], parts[0][1]
    for t, (c, m, *_rest) in zip(trajs[1:], parts[1:]):
        if not (np.array_equal(c.z, cg.z) and np.allclose(m, masses)):
            raise ValueError(f"{t}: its CG map (bead types or masses) differs from that of {trajs[0]}")
    pos = np.concatenate([q[2] for q in parts])
    frc = np.concatenate([q[3] for q in parts])
    box = np.concatenate([q[4]["box"] for q in parts])
    time_ps = np.concatenate([q[4]["time_ps"] for q in parts])
    if system.periodic:
        pos = wrap_positions(pos, box).astype(np.float32)
    F = len(pos)
    train_idx, val_idx = split_indices(F, val_fraction, seed)
    optional = {}
    if not system.periodic:
        optional["periodic"] = False
    if len(trajs) > 1 or not system.periodic:
        optional["replica"] = np.concatenate([np.full(len(q[2]), k, np.int64) for k, q in enumerate(parts)])
        optional["temperature_K"] = parts[0][4]["temperature_K"]
    if cg.bead_names is not None:
        optional["bead_names"] = cg.bead_names
    if cg.bonds is not None:
        optional["bonds"] = cg.bonds
    write_dataset(out, coords=pos, forces=frc, box=box, z=cg.z, masses=masses, train_idx=train_idx,
                  val_idx=val_idx, time_ps=time_ps, **optional)
    return {"frames": F, "beads": len(cg.bead_atom), "replicas": len(trajs), "train": len(train_idx),
            "val": len(val_idx)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain map", description="Map AA trajectories to the CG dataset.")
    ap.add_argument("--system", required=True, help="registered system (cgexplain.systems) or a dotted module path")
    ap.add_argument("--traj", required=True, type=Path, nargs="+", help="AA trajectory file(s) from `cgexplain md`")
    ap.add_argument("--out", required=True, type=Path, help="dataset.npz to write")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    info = map_trajectory(a.system, a.traj, a.out, a.val_fraction, a.seed)
    print(f"mapped {info}", file=sys.stderr)
    return 0
