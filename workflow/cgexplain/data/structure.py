"""A folded structure read as Cα beads: coordinates, one-letter sequence and DSSP secondary-structure elements.

The one reader of the shipped NTL9 structure (and any PDB a protein system names) for the folding states
(:mod:`cgexplain.analysis.folding`) and the Gō model (:mod:`cgexplain.systems.ntl9_go`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.residues import ONE_LETTER, residue_type


def load_beads(pdb_path):
    """(trajectory, atom indices of the CA of each bead, residue indices of the beads)."""
    import mdtraj as md

    path = Path(pdb_path)
    if not path.exists():
        raise FileNotFoundError(f"folded structure {path} does not exist")
    traj = md.load(str(path))[0]
    ca_atoms, residues = [], []
    for res in traj.topology.residues:
        if not res.is_protein:
            continue
        ca = [a.index for a in res.atoms if a.name == "CA"]
        if ca:
            ca_atoms.append(ca[0])
            residues.append(res.index)
    if not ca_atoms:
        raise ValueError(f"{path}: no protein residue with a CA atom")
    return traj, np.asarray(ca_atoms, dtype=np.int64), np.asarray(residues, dtype=np.int64)


def dssp_string(pdb_path) -> str:
    """Simplified DSSP codes (E/H/C) of the beads of ``pdb_path`` as one string (length N)."""
    import mdtraj as md

    traj, _, residues = load_beads(pdb_path)
    codes = md.compute_dssp(traj, simplified=True)[0]  # whole structure: caps take part in H-bonds
    return "".join(str(codes[r]) for r in residues)


def segments(dssp: str, code: str, min_len: int) -> list[tuple[int, int]]:
    """Inclusive (start, end) runs of ``code`` in ``dssp`` of at least ``min_len`` residues."""
    out, start = [], None
    for k, c in enumerate(dssp + "#"):
        if c == code and start is None:
            start = k
        elif c != code and start is not None:
            if k - start >= min_len:
                out.append((start, k - 1))
            start = None
    return out


def secondary_structure(pdb_path, min_strand: int = 2, min_helix: int = 4) -> dict[str, tuple[int, int]]:
    """β-strands β1, β2, β3 (sequence order) and the helix of a folded structure, by DSSP.

    Returns ``{"beta1": (start, end), "beta2": …, "beta3": …, "helix": …}``, inclusive 0-based
    bead ranges. Strands are E runs of >= ``min_strand`` residues (the three longest if there are
    more, kept in sequence order); the helix is the longest H run of >= ``min_helix`` residues.
    """
    dssp = dssp_string(pdb_path)
    strands = segments(dssp, "E", min_strand)
    helices = segments(dssp, "H", min_helix)
    if len(strands) < 3:
        raise ValueError(f"{pdb_path}: DSSP finds {len(strands)} β-strand(s) of >= {min_strand} residues "
                         f"(need 3) in {dssp!r}")
    if not helices:
        raise ValueError(f"{pdb_path}: DSSP finds no helix of >= {min_helix} residues in {dssp!r}")
    if len(strands) > 3:
        longest = sorted(range(len(strands)), key=lambda k: (-(strands[k][1] - strands[k][0]), k))[:3]
        strands = [strands[k] for k in sorted(longest)]
    helix = max(helices, key=lambda s: (s[1] - s[0], -s[0]))
    return {"beta1": strands[0], "beta2": strands[1], "beta3": strands[2], "helix": helix}


def ca_coordinates(pdb_path) -> np.ndarray:
    """(N, 3) Cα coordinates in Å of the beads of ``pdb_path`` (same beads as the DSSP ranges)."""
    traj, ca_atoms, _ = load_beads(pdb_path)
    return np.asarray(traj.xyz[0, ca_atoms], dtype=np.float64) * 10.0


def ca_sequence(pdb_path) -> str:
    """One-letter sequence of the beads of ``pdb_path`` (same beads as :func:`ca_coordinates`)."""
    traj, _, residues = load_beads(pdb_path)
    return "".join(ONE_LETTER[residue_type(traj.topology.residue(int(r)).name) - 1] for r in residues)
