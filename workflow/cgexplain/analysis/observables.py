"""Structural observables of CG configurations (AA reference mapped to beads, or CG simulations).

* RDF g(r) of the beads (mdtraj's ``compute_rdf``, periodic).
* Local angle distribution: angles j–i–k of all pairs of neighbours j, k of bead i inside the
  first solvation shell (``first_shell_A``).
* Tetrahedral order parameter of each bead from its four nearest neighbours,
  q = 1 − 3/8 Σ_{j<k} (cos ψ_jk + 1/3)² (Errington & Debenedetti 2001).
* Triplet geometry within a model cutoff: the (largest angle θ, opposite edge L) histogram of all
  triplets a 3-body walk of a network with that cutoff can visit (``geometry.connected_triplets``).

Output ``observables.npz``: ``rdf_r`` (Å, bin centres), ``rdf_g``; ``angle_centres`` (deg),
``angle_density`` (1/deg); ``q_centres``, ``q_density``; ``triplet_cutoffs`` (K,) Å,
``triplet_theta_edges`` (deg), ``triplet_L_edges`` (Å), ``triplet_hist`` (K, nθ, nL) probability
per bin; ``n_frames``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..core.config import ParamsError, load_params
from ..core.errors import InputError, report
from ..core.geometry import connected_triplets, minimum_image, triangle_geometry
from ..core.runtime import save_npz
from ..data.dataset import load_frames_file
from ..data.sampling import evenly_spaced

ANALYSIS_KEYS = ("n_frames", "rdf_max_A", "rdf_bins", "angle_bins", "q_bins", "triplet_bins")
Q_RANGE = (-1.0, 1.0)


def rdf(coords: np.ndarray, box, r_max_A: float, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bead–bead RDF of frames ``coords`` (F, N, 3) Å in the orthorhombic ``box`` ((3,) or (F, 3) Å)."""
    import mdtraj as md

    coords = np.asarray(coords, dtype=np.float32)
    F, N, _ = coords.shape
    box = np.broadcast_to(np.asarray(box, dtype=np.float32), (F, 3))
    if r_max_A > 0.5 * box.min():
        raise ValueError(f"rdf_max_A={r_max_A} exceeds half the smallest box length {0.5 * box.min():.2f} Å")
    top = md.Topology()
    ch = top.add_chain()
    for _ in range(N):
        top.add_atom("X", md.element.virtual, top.add_residue("B", ch))
    traj = md.Trajectory(coords / 10.0, top, unitcell_lengths=box / 10.0,
                         unitcell_angles=np.full((F, 3), 90.0, dtype=np.float32))
    pairs = np.array(np.triu_indices(N, k=1)).T
    r, g = md.compute_rdf(traj, pairs, r_range=(0.0, r_max_A / 10.0), n_bins=int(n_bins), periodic=True)
    return r * 10.0, g


def _vectors(pos: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    d = minimum_image(pos[None, :, :] - pos[:, None, :], box)  # d[i, j] = r_j - r_i
    r = np.sqrt((d * d).sum(-1))
    np.fill_diagonal(r, np.inf)
    return d, r


def local_angles(pos: np.ndarray, box, shell_A: float) -> np.ndarray:
    """All angles (deg) j–i–k with j, k within ``shell_A`` of i, for one frame."""
    d, r = _vectors(pos, box)
    out = []
    for i in range(len(pos)):
        nb = np.flatnonzero(r[i] < shell_A)
        if len(nb) < 2:
            continue
        u = d[i, nb] / r[i, nb, None]
        a, b = np.triu_indices(len(nb), k=1)
        out.append(np.degrees(np.arccos(np.clip((u[a] * u[b]).sum(-1), -1.0, 1.0))))
    return np.concatenate(out) if out else np.zeros(0)


def tetrahedral_q(pos: np.ndarray, box) -> np.ndarray:
    """Tetrahedral order parameter q of every bead of one frame (four nearest neighbours)."""
    d, r = _vectors(pos, box)
    nn = np.argpartition(r, 4, axis=1)[:, :4]
    u = np.take_along_axis(d, nn[:, :, None], axis=1) / np.take_along_axis(r, nn, axis=1)[:, :, None]
    a, b = np.triu_indices(4, k=1)
    cos = (u[:, a] * u[:, b]).sum(-1)
    return 1.0 - 3.0 / 8.0 * ((cos + 1.0 / 3.0) ** 2).sum(-1)


def triplet_histogram(frames: np.ndarray, boxes: np.ndarray, cutoff: float, theta_edges, L_edges) -> np.ndarray:
    """Probability per (θ, L) bin of the connected triplets within ``cutoff`` over ``frames``."""
    h = np.zeros((len(theta_edges) - 1, len(L_edges) - 1))
    for pos, box in zip(frames, boxes):
        tri = connected_triplets(pos, box, cutoff)
        geo = triangle_geometry(pos, box, tri)
        h += np.histogram2d(geo["theta"], geo["L"], bins=[theta_edges, L_edges])[0]
    return h / max(h.sum(), 1.0)


def load_cg_frames(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames (M, N, 3) and boxes (M, 3) of a CG dataset or a CG trajectory (replicas
    flattened), read through the checking loaders of :mod:`cgexplain.data.dataset`: a bad file is an
    :class:`InputError` naming it."""
    kind, d = load_frames_file(path)
    if kind == "dataset":  # CG dataset (mapped AA reference)
        return d["coords"], d["box"]
    X = d["coords"].reshape(-1, *d["coords"].shape[2:])  # CG trajectory (replicas, frames, N, 3)
    return X, np.broadcast_to(d["box"], (len(X), 3))


def sample_frames(path: Path, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames (F, N, 3) and boxes (F, 3) evenly sampled from a CG dataset or a CG trajectory."""
    X, B = load_cg_frames(path)
    sel = evenly_spaced(len(X), int(n_frames))
    return np.asarray(X[sel], dtype=np.float64), np.asarray(B[sel], dtype=np.float64)


def observables(path: Path, p: dict, shell_A: float, triplet_cutoffs: list[float]) -> dict[str, np.ndarray]:
    X, B = sample_frames(path, int(p["n_frames"]))
    r, g = rdf(X, B, float(p["rdf_max_A"]), int(p["rdf_bins"]))
    ang = np.concatenate([local_angles(x, b, shell_A) for x, b in zip(X, B)])
    a_edges = np.linspace(0.0, 180.0, int(p["angle_bins"]) + 1)
    a_dens = np.histogram(ang, bins=a_edges, density=True)[0] if len(ang) else np.zeros(len(a_edges) - 1)
    q = np.concatenate([tetrahedral_q(x, b) for x, b in zip(X, B)])
    q_edges = np.linspace(*Q_RANGE, int(p["q_bins"]) + 1)
    q_dens = np.histogram(q, bins=q_edges, density=True)[0]
    nb = int(p["triplet_bins"])
    t_edges = np.linspace(0.0, 180.0, nb + 1)
    L_edges = np.linspace(0.0, 2.0 * max(triplet_cutoffs), nb + 1)
    hist = np.stack([triplet_histogram(X, B, c, t_edges, L_edges) for c in triplet_cutoffs])
    centre = lambda e: 0.5 * (e[1:] + e[:-1])  # noqa: E731
    return {"rdf_r": r, "rdf_g": g, "angle_centres": centre(a_edges), "angle_density": a_dens,
            "q_centres": centre(q_edges), "q_density": q_dens, "triplet_cutoffs": np.asarray(triplet_cutoffs, float),
            "triplet_theta_edges": t_edges, "triplet_L_edges": L_edges, "triplet_hist": hist,
            "n_frames": np.asarray(len(X))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain observables", description="Structural observables.")
    ap.add_argument("--input", required=True, type=Path, help="CG dataset.npz or CG trajectory.npz")
    ap.add_argument("--params", required=True, help="JSON: the analysis section")
    ap.add_argument("--shell", required=True, type=float, help="first-shell cutoff in Å for local angles")
    ap.add_argument("--triplet-cutoffs", required=True, type=float, nargs="+", help="model cutoffs in Å")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args(argv)
    try:
        p = load_params(a.params, ANALYSIS_KEYS, "analysis params")
        res = observables(a.input, p, a.shell, sorted(set(a.triplet_cutoffs)))
    except (InputError, ParamsError) as exc:
        return report("observables", exc)
    save_npz(a.out, **res)
    print(f"observables of {a.input}: {int(res['n_frames'])} frames -> {a.out}", file=sys.stderr)
    return 0
