"""File formats and unit conversions shared by the IMC baseline (VOTCA-CSG + LAMMPS).

Units
-----
* VOTCA works in nm and kJ/mol (tables ``r[nm] U[kJ/mol] flag``, RDFs ``r[nm] g flag``).
* LAMMPS runs in ``units real``: Å, kcal/mol, fs; its ``pair_style table`` files hold
  ``index r[Å] U[kcal/mol] F[kcal/mol/Å]`` with F = −dU/dr.
* Conversions: 1 nm = 10 Å, 1 kcal/mol = 4.184 kJ/mol, so U_kcal = U_kJ / 4.184 and
  F_kcal/Å = F_kJ/nm / 41.84.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

NM_TO_A = 10.0
KJ_TO_KCAL = 1.0 / 4.184
KB_KJ_PER_MOL_K = 0.00831446261815324  # Boltzmann constant × Avogadro, kJ/mol/K

TEMPLATE_DIR = Path(__file__).resolve().parents[3] / "resources" / "votca"

_PACKAGE = {"csg_inverse": "votca", "csg_call": "votca", "csg_resample": "votca", "csg_dump": "votca",
            "csg_stat": "votca", "lmp": "lammps"}


class MissingProgramError(RuntimeError):
    """A required external program is not on PATH (message: one line naming the Debian package)."""


def require_program(name: str) -> str:
    """Absolute path of ``name`` or a one-line :class:`MissingProgramError` naming the package."""
    path = shutil.which(name)
    if path is None:
        pkg = _PACKAGE.get(name, name)
        raise MissingProgramError(
            f"'{name}' not found on PATH: install the Debian package '{pkg}' (apt-get install {pkg})")
    return path


def fill_template(text: str, values: dict) -> str:
    """Replace every ``@KEY@`` in ``text``; an unfilled placeholder is an error."""
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    left = sorted(set(re.findall(r"@([A-Z0-9_]+)@", text)))
    if left:
        raise KeyError(f"template placeholders not filled: {', '.join(left)}")
    return text


def read_template(name: str, template_dir: str | Path | None = None) -> str:
    return (Path(template_dir) if template_dir else TEMPLATE_DIR).joinpath(name).read_text()


# --------------------------------------------------------------------------------------------
# LAMMPS data files and dumps
# --------------------------------------------------------------------------------------------

def write_lammps_data(path: str | Path, coords_A: np.ndarray, box_A, mass_amu: float,
                      title: str = "CG beads written by cgexplain") -> None:
    """One-type ``atom_style atomic`` data file; positions are wrapped into [0, L)."""
    coords = np.asarray(coords_A, dtype=np.float64).reshape(-1, 3)
    box = np.asarray(box_A, dtype=np.float64).reshape(3)
    coords = np.mod(coords, box)
    lines = [title, "", f"{len(coords)} atoms", "1 atom types", ""]
    lines += [f"0.0 {box[k]:.6f} {ax}lo {ax}hi" for k, ax in enumerate("xyz")]
    lines += ["", "Masses", "", f"1 {float(mass_amu):.6f}", "", "Atoms # atomic", ""]
    lines += [f"{i + 1} 1 {x:.6f} {y:.6f} {z:.6f}" for i, (x, y, z) in enumerate(coords)]
    Path(path).write_text("\n".join(lines) + "\n")


def read_lammps_dump(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames of a ``dump custom ... id type x y z`` file: (coords (F,N,3) Å, boxes (F,3) Å, steps (F,))."""
    frames, boxes, steps = [], [], []
    with open(path) as fh:
        while True:
            line = fh.readline()
            if not line:
                break
            if not line.startswith("ITEM: TIMESTEP"):
                continue
            steps.append(int(fh.readline()))
            fh.readline()  # ITEM: NUMBER OF ATOMS
            n = int(fh.readline())
            fh.readline()  # ITEM: BOX BOUNDS
            lo_hi = [list(map(float, fh.readline().split()[:2])) for _ in range(3)]
            header = fh.readline().split()[2:]  # ITEM: ATOMS id type x y z
            rows = np.loadtxt([fh.readline() for _ in range(n)], ndmin=2)
            col = {name: k for k, name in enumerate(header)}
            order = np.argsort(rows[:, col["id"]])
            xyz = rows[order][:, [col["x"], col["y"], col["z"]]]
            lo = np.array([b[0] for b in lo_hi])
            box = np.array([b[1] - b[0] for b in lo_hi])
            frames.append(np.mod(xyz - lo, box))
            boxes.append(box)
    if not frames:
        raise ValueError(f"no frames in LAMMPS dump {path}")
    return np.asarray(frames), np.asarray(boxes), np.asarray(steps)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

def read_votca_table(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A VOTCA table ``x y [flag]`` (comments '#' and '@' skipped): (x, y, flags)."""
    xs, ys, flags = [], [], []
    for line in Path(path).read_text().splitlines():
        s = line.strip()
        if not s or s[0] in "#@":
            continue
        parts = s.split()
        xs.append(float(parts[0]))
        ys.append(float(parts[1]))
        flags.append(parts[2] if len(parts) > 2 else "i")
    return np.asarray(xs), np.asarray(ys), np.asarray(flags)


def write_votca_table(path: str | Path, x: np.ndarray, y: np.ndarray, comment: str = "") -> None:
    lines = [f"# {c}" for c in comment.splitlines()] if comment else []
    lines += [f"{a:.8g} {b:.8g} i" for a, b in zip(x, y)]
    Path(path).write_text("\n".join(lines) + "\n")


def votca_pot_to_lammps(r_nm: np.ndarray, U_kJ: np.ndarray, flags: np.ndarray | None,
                        r_begin_nm: float, r_cut_nm: float, n_points: int = 2000
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert a VOTCA pair potential (nm, kJ/mol) to a LAMMPS table in Å and kcal/mol.

    Points flagged ``'i'`` (in range) are trusted; below the first one the potential is continued
    linearly with the spline's slope there (kept repulsive: slope ≤ 0). A cubic
    spline through the trusted points gives U and F = −dU/dr on ``n_points`` equally spaced
    points from ``r_begin_nm`` to ``r_cut_nm``; U is shifted to zero at the cut-off.
    Returns (r [Å], U [kcal/mol], F [kcal/mol/Å]).
    """
    from scipy.interpolate import CubicSpline

    r_nm = np.asarray(r_nm, float)
    U_kJ = np.asarray(U_kJ, float)
    ok = np.isfinite(U_kJ) & (r_nm <= r_cut_nm + 1e-9)
    if flags is not None:
        ok &= np.asarray(flags) == "i"
    r_ok, U_ok = r_nm[ok], U_kJ[ok]
    if len(r_ok) < 4:
        raise ValueError("too few valid points in the VOTCA potential")
    spline = CubicSpline(r_ok, U_ok, bc_type="natural")
    slope = min(float(spline(r_ok[0], 1)), 0.0)  # C1 continuation, never attractive
    r = np.linspace(r_begin_nm, r_cut_nm, n_points)
    inside = r >= r_ok[0]
    U = np.where(inside, spline(np.clip(r, r_ok[0], None)), U_ok[0] + slope * (r - r_ok[0]))
    dU = np.where(inside, spline(np.clip(r, r_ok[0], None), 1), slope)
    U = U - spline(min(r_cut_nm, r_ok[-1]))
    return r * NM_TO_A, U * KJ_TO_KCAL, -dU * KJ_TO_KCAL / NM_TO_A


def write_lammps_table(path: str | Path, r_A: np.ndarray, U: np.ndarray, F: np.ndarray,
                       keyword: str = "IMC", comment: str = "") -> None:
    """``pair_style table`` file (units real): ``index r[Å] U[kcal/mol] F[kcal/mol/Å]``."""
    lines = [f"# {c}" for c in comment.splitlines()] if comment else []
    lines += ["", keyword, f"N {len(r_A)} R {r_A[0]:.10g} {r_A[-1]:.10g}", ""]
    lines += [f"{i + 1} {a:.10g} {u:.10g} {f:.10g}" for i, (a, u, f) in enumerate(zip(r_A, U, F))]
    Path(path).write_text("\n".join(lines) + "\n")


def read_lammps_table(path: str | Path, keyword: str | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r, U, F) of one section of a ``pair_style table`` file (first section if no keyword)."""
    lines = [l.strip() for l in Path(path).read_text().splitlines()]
    k = 0
    while k < len(lines):
        s = lines[k]
        if s and not s.startswith("#") and (keyword is None or s == keyword):
            if k + 1 < len(lines) and lines[k + 1].startswith("N "):
                n = int(lines[k + 1].split()[1])
                rows = [l for l in lines[k + 2:] if l and not l.startswith("#")][:n]
                a = np.loadtxt(rows, ndmin=2)
                return a[:, 1], a[:, 2], a[:, 3]
        k += 1
    raise ValueError(f"no table section {keyword or ''} in {path}")


# --------------------------------------------------------------------------------------------
# RDF on VOTCA's grid
# --------------------------------------------------------------------------------------------

def votca_grid(r_min_nm: float, r_max_nm: float, step_nm: float) -> np.ndarray:
    n = int(round((r_max_nm - r_min_nm) / step_nm)) + 1
    return r_min_nm + step_nm * np.arange(n)


def rdf_on_grid(coords_A: np.ndarray, box_A, grid_nm: np.ndarray, chunk: int = 64) -> np.ndarray:
    """g(r) of a one-type periodic liquid on VOTCA's grid (bins centred on the grid points).

    ``coords_A`` (F, N, 3) Å, ``box_A`` (3,) or (F, 3) Å. Bin i covers
    [r_i − Δ/2, r_i + Δ/2] ∩ [0, ∞); normalisation by the ideal-gas shell count with the
    per-frame density N/V, as VOTCA's ``csg_stat`` does (so g → (N−1)/N at large r), so that the
    IMC target and VOTCA's iteration RDFs are directly comparable.
    """
    from ..core.geometry import minimum_image

    coords = np.asarray(coords_A, dtype=np.float64)
    F, N, _ = coords.shape
    boxes = np.broadcast_to(np.asarray(box_A, dtype=np.float64).reshape(-1, 3), (F, 3))
    step = (grid_nm[1] - grid_nm[0]) * NM_TO_A
    r = grid_nm * NM_TO_A
    edges = np.concatenate([[max(r[0] - step / 2, 0.0)], r + step / 2])
    edges = np.maximum(edges, 0.0)
    hist = np.zeros(len(r))
    norm = np.zeros(len(r))
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    iu, ju = np.triu_indices(N, k=1)
    for s in range(0, F, chunk):
        c = coords[s:s + chunk]
        b = boxes[s:s + chunk]
        d = minimum_image(c[:, ju] - c[:, iu], b[:, None, :])
        dist = np.sqrt((d * d).sum(-1))
        for f in range(len(c)):
            h, _ = np.histogram(dist[f], bins=edges)
            hist += 2.0 * h
            rho = N / np.prod(b[f])
            norm += N * rho * shell
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(norm > 0, hist / norm, 0.0)
    return g


def rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))
