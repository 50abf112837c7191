"""Cα bead types and chain topology shared by protein systems, their data routes and mutations.

One bead type per amino acid: ``z = 1 + index`` of the one-letter code in :data:`ONE_LETTER`
(A=1, C=2, …, Y=20). Histidine protonation variants and capped termini map to their amino acid.
"""

from __future__ import annotations

import numpy as np

ONE_LETTER = "ACDEFGHIKLMNPQRSTVWY"
THREE_LETTER = ("ALA", "CYS", "ASP", "GLU", "PHE", "GLY", "HIS", "ILE", "LYS", "LEU", "MET", "ASN", "PRO",
                "GLN", "ARG", "SER", "THR", "VAL", "TRP", "TYR")
ALIASES = {"HID": "HIS", "HIE": "HIS", "HIP": "HIS", "HSD": "HIS", "HSE": "HIS", "HSP": "HIS",
           "CYX": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS", "NLE": "LEU"}
TYPE_OF = {name: k + 1 for k, name in enumerate(THREE_LETTER)}
TYPE_OF.update({a: TYPE_OF[b] for a, b in ALIASES.items()})
NAME_OF_TYPE = {k + 1: name for k, name in enumerate(THREE_LETTER)}


def residue_type(name: str) -> int:
    """Bead type of a residue name (three-letter, any case) or one-letter code."""
    key = name.strip().upper()
    if len(key) == 1:
        if key not in ONE_LETTER:
            raise ValueError(f"unknown one-letter amino-acid code {name!r}")
        return ONE_LETTER.index(key) + 1
    if key not in TYPE_OF:
        raise ValueError(f"unknown residue name {name!r}; expected one of {THREE_LETTER}")
    return TYPE_OF[key]


def sequence_types(sequence: str) -> np.ndarray:
    """Bead types (N,) of a one-letter sequence such as ``MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA``."""
    return np.array([residue_type(c) for c in sequence.strip()], dtype=np.int64)


def type_names(z) -> np.ndarray:
    """Three-letter residue names (N,) of bead types ``z``."""
    return np.array([NAME_OF_TYPE[int(t)] for t in np.asarray(z).reshape(-1)])


def chain_bonds(n_beads: int) -> np.ndarray:
    """Bonds (i, i+1) of a single linear chain of ``n_beads`` Cα beads: (n_beads - 1, 2)."""
    i = np.arange(n_beads - 1, dtype=np.int64)
    return np.stack([i, i + 1], axis=1)


#: Masses (amu) of the atoms whose forces a Cα bead carries: Cα and the hydrogen(s) bonded to it
#: (two on glycine), the atoms that HBonds constraints tie to the Cα.
CA_MASS, H_MASS = 12.01, 1.008  # amber14 masses, so both NTL9 routes give the same bead masses


def ca_bead_mass(name: str) -> float:
    """Mass of the Cα bead of residue ``name``: Cα plus its bonded hydrogens (amu)."""
    return CA_MASS + H_MASS * (2 if NAME_OF_TYPE[residue_type(name)] == "GLY" else 1)


def parse_mutation(name: str, bead_names) -> tuple[int, str]:
    """``ILE4ASN`` → (3, "ASN"): 0-based bead of residue 4, which must be ILE in ``bead_names``."""
    import re

    m = re.fullmatch(r"([A-Za-z]{3})(\d+)([A-Za-z]{3})", name.strip())
    if not m:
        raise ValueError(f"mutation {name!r}: expected e.g. ILE4ASN (residue name, number from 1, new residue)")
    old, num, new = m.group(1).upper(), int(m.group(2)), m.group(3).upper()
    if not 1 <= num <= len(bead_names):
        raise ValueError(f"mutation {name!r}: residue {num} outside 1..{len(bead_names)}")
    have = str(bead_names[num - 1])
    if type_names([residue_type(old)])[0] != have:
        raise ValueError(f"mutation {name!r}: residue {num} is {have}, not {old}")
    residue_type(new)
    return num - 1, new
