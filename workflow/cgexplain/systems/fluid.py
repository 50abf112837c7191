"""One-bead-per-molecule liquids: the shared CG map and config keys of methane, water and the like.

The bead of a molecule sits on its central atom (the first atom of element ``central_element``); the
CG force is the sum of the force-field forces on all atoms of the molecule ("basic aggregated"). With
X–H bonds constrained this map is consistent with force matching: constraint forces are internal to
a molecule and cancel in the sum. The bead type is the central atom's atomic number.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from . import AtomTable, CGMap, System

ATOMIC_NUMBER = {"H": 1, "C": 6, "N": 7, "O": 8, "S": 16}

POS = {"type": "number", "exclusiveMinimum": 0}
NONNEG = {"type": "number", "minimum": 0}
#: md keys every fluid has (its own geometry keys come on top)
FLUID_MD = {
    "timestep_fs": POS, "save_interval_ps": POS, "equilibration_ps": NONNEG, "production_ps": POS,
    "nonbonded_cutoff_nm": POS,
}


def fluid_schema(geometry: dict, required_geometry: list[str]) -> dict:
    """``config_schema`` of a fluid: its ``md`` block (geometry + common MD keys) and ``first_shell_A``."""
    md = {"type": "object", "additionalProperties": False,
          "required": required_geometry + list(FLUID_MD), "properties": {**geometry, **FLUID_MD}}
    return {"required": ["md", "first_shell_A"],
            "properties": {"md": md, "first_shell_A": POS}}


class MolecularFluid(System):
    """A periodic liquid of identical small molecules mapped to one bead each."""

    periodic = True
    figures = ("fluid_structure", "fluid_relevance", "imc", "manybody")
    analysis_keys = ("first_shell_A",)
    central_element: ClassVar[str] = ""

    def config_errors(self, cfg: dict) -> list[tuple[str, str]]:
        """The first shell of the local angles must fit in half the box (minimum image)."""
        box = self.box_A(cfg)
        half = 0.5 * float(min(box)) if box is not None else float("inf")
        if float(cfg["first_shell_A"]) > half:
            return [("first_shell_A", f"{cfg['first_shell_A']} Å exceeds half the smallest box length ({half:.2f} Å)")]
        return []

    def cg_map(self, atoms: AtomTable) -> CGMap:
        residue = np.asarray(atoms.residue, dtype=np.int64)
        elements = np.asarray([e.decode() if isinstance(e, bytes) else str(e) for e in atoms.elements])
        n_mol = int(residue.max()) + 1
        bead_atom = np.full(n_mol, -1, dtype=np.int64)
        for a in np.flatnonzero(elements == self.central_element)[::-1]:
            bead_atom[residue[a]] = a  # reversed: the first central atom of each molecule wins
        if (bead_atom < 0).any():
            raise ValueError(f"{self.name}: molecule {int(np.argmin(bead_atom))} has no "
                             f"{self.central_element} atom to place its bead on")
        z = np.full(n_mol, ATOMIC_NUMBER[self.central_element], dtype=np.int64)
        return CGMap(bead_atom=bead_atom, force_bead=residue, z=z)
