"""Liquid methane: 125 OPLS-AA molecules in the orthorhombic box of the paper's public demo frame."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from openmm import app, unit

from . import register
from .fluid import POS, MolecularFluid, fluid_schema

RESOURCES = Path(__file__).resolve().parents[3] / "resources"
METHANE_FF = RESOURCES / "forcefields" / "methane_oplsaa.xml"
TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) / math.sqrt(3.0)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


@register
class Methane(MolecularFluid):
    """OPLS-AA methanes on a jittered lattice, C–H constrained, PME; bead = C."""

    name = "methane"
    central_element = "C"
    config_schema = fluid_schema(
        {"n_molecules": {"type": "integer", "minimum": 1},
         "box_A": {"type": "array", "items": POS, "minItems": 3, "maxItems": 3}},
        ["n_molecules", "box_A"])

    def box_A(self, cfg: dict) -> np.ndarray:
        return np.asarray(cfg["md"]["box_A"], dtype=float)

    def build(self, cfg: dict, replica: int, seed: int, source=None, forcefield_xml: Path = METHANE_FF):
        md = cfg["md"]
        n = int(md["n_molecules"])
        box_nm = self.box_A(cfg) / 10.0
        if not forcefield_xml.exists():
            raise FileNotFoundError(f"methane force field {forcefield_xml} is missing")
        rng = np.random.default_rng(seed)
        # smallest lattice with at least n sites, shaped like the box
        shape = np.ones(3, dtype=int)
        while shape.prod() < n:
            shape[np.argmax(box_nm / shape)] += 1
        grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
        sites = (grid[rng.permutation(len(grid))[:n]] + 0.5) * (box_nm / shape)
        top = app.Topology()
        chain = top.addChain()
        C, H = app.Element.getBySymbol("C"), app.Element.getBySymbol("H")
        pos = []
        bond_nm = 0.109
        for k in range(n):
            res = top.addResidue("CH4", chain)
            c = top.addAtom("C", C, res)
            rot = _random_rotation(rng)
            pos.append(sites[k])
            for h in range(4):
                a = top.addAtom(f"H{h + 1}", H, res)
                top.addBond(c, a)
                pos.append(sites[k] + bond_nm * TETRAHEDRON[h] @ rot.T)
        top.setPeriodicBoxVectors(np.diag(box_nm) * unit.nanometer)
        ff = app.ForceField(str(forcefield_xml))
        system = ff.createSystem(
            top, nonbondedMethod=app.PME, nonbondedCutoff=float(md["nonbonded_cutoff_nm"]) * unit.nanometer,
            constraints=app.HBonds,
        )
        return top, system, np.asarray(pos) * unit.nanometer
