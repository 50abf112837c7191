"""Liquid water: openmmtools' ``WaterBox`` (TIP3P, rigid, PME); bead = O."""

from __future__ import annotations

import numpy as np
from openmm import unit

from . import register
from .fluid import POS, MolecularFluid, fluid_schema


@register
class Water(MolecularFluid):
    name = "water"
    central_element = "O"
    config_schema = fluid_schema({"box_edge_nm": POS}, ["box_edge_nm"])

    def box_A(self, cfg: dict) -> np.ndarray:
        return np.full(3, 10.0 * float(cfg["md"]["box_edge_nm"]))

    def build(self, cfg: dict, replica: int, seed: int, source=None):
        from openmmtools.testsystems import WaterBox

        md = cfg["md"]
        wb = WaterBox(box_edge=float(md["box_edge_nm"]) * unit.nanometer,
                      cutoff=float(md["nonbonded_cutoff_nm"]) * unit.nanometer, model="tip3p")
        return wb.topology, wb.system, wb.positions
