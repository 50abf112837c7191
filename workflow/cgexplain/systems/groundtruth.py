"""The truth, term by term: exact per-term energies (and forces) of the ground-truth CG systems.

The ground-truth systems (:mod:`cgexplain.systems.ntl9_go`, the Cα Gō model of NTL9, and
:mod:`cgexplain.systems.mw_water`, Stillinger–Weber mW water) have an energy that is an explicit sum
of 2-, 3- and 4-body terms. This module owns the formulas of those terms, in numpy float64, and
splits any frame into them; the OpenMM systems the two modules build evaluate the same formulas, and
``tests/test_groundtruth.py`` checks that the terms here add up to OpenMM's energy and forces.

Units: Å, kcal/mol, kcal/mol/Å (the project's units); OpenMM's kJ/mol and nm only in
:func:`openmm_energy_forces`.

Term kinds (``body`` = number of beads; ``bonded`` = along the chain)
---------------------------------------------------------------------

=============  ====  ======  ==================================================================
kind           body  bonded  energy
=============  ====  ======  ==================================================================
bond           2     yes     K_r (r − r0)²
angle          3     yes     K_θ (θ − θ0)²
dihedral       4     yes     K1 [1 − cos(φ − φ0)] + K3 [1 − cos 3(φ − φ0)]
contact        2     no      ε_ij ≥ 0: ε_ij [5 (σ/r)^12 − 6 (σ/r)^10]   (native contact, minimum −ε_ij at σ)
                             ε_ij < 0: ε_rep (C/r)^12 + |ε_ij| exp(−(r − σ)² / 2w²)   (destabilising)
repulsion      2     no      ε_rep (C/r)^12                              (non-native pairs)
triangle       3     no      −κ S(r_ij; σ_ij) S(r_ik; σ_ik) S(r_jk; σ_jk),
                             S(r; σ) = ½ [1 − tanh(½ β (r − t σ))] = 1 / (1 + exp(β (r − t σ)))
sw2            2     no      A ε [B (σ/r)^p − (σ/r)^q] exp(σ / (r − aσ)),  r < aσ
sw3            3     no      λ ε (cos θ_jik − cos θ0)² exp(γσ / (r_ij − aσ)) exp(γσ / (r_ik − aσ)),
                             r_ij, r_ik < aσ; atoms listed (i = centre, j, k), j < k
=============  ====  ======  ==================================================================

The dihedral φ(p0, p1, p2, p3) is the IUPAC angle (trans = ±180°), the one OpenMM's torsions use.

API::

    decompose(model, x, box=None, forces=False) -> Decomposition
    Decomposition.total                     # kcal/mol
    Decomposition.terms[kind]               # TermTable: atoms (K, body) int64, energy (K,), forces (K, body, 3)
    Decomposition.pairs()                   # (P, 2) sorted bead pairs, (P,) summed non-bonded 2-body energy
    Decomposition.triplets()                # (T, 3) sorted bead triplets, (T,) summed non-bonded 3-body energy
    Decomposition.bonded()                  # {"bond": (atoms, E), "angle": …, "dihedral": …}
    Decomposition.by_body_order()           # {2: (atoms, E), 3: …, 4: …}: every term, per sorted bead tuple
    Decomposition.forces                    # (N, 3) kcal/mol/Å (forces=True)
    openmm_energy_forces(system, x, box=None, platform="Reference") -> (E kcal/mol, F (N, 3) kcal/mol/Å)

``model`` is a :class:`cgexplain.systems.ntl9_go.GoModel` or a
:class:`cgexplain.systems.mw_water.MWModel` (anything with a ``term_sets(x, box)`` method returning
:class:`TermSet` objects works). Forces come per term from a vectorised 5-point central difference
of the term's own energy (step 1e-3 Å; error ~1e-9 kcal/mol/Å at bead distances), summed per bead.

For mW every ``sw3`` term is one (centre; j, k) angle; :meth:`Decomposition.triplets` adds the (up to)
three centres of one unordered triplet, the 3-body energy of that triplet in the many-body expansion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

KCAL_TO_KJ = 4.184
KJ_PER_NM_TO_KCAL_PER_A = 1.0 / 41.84

#: body order and whether the kind is bonded (along the chain)
KINDS = {
    "bond": (2, True), "angle": (3, True), "dihedral": (4, True),
    "contact": (2, False), "repulsion": (2, False), "triangle": (3, False),
    "sw2": (2, False), "sw3": (3, False),
}
FD_STEP_A = 1e-3


# -- geometry of (K, n, 3) term coordinates -------------------------------------------------------

def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((b - a) ** 2).sum(-1))


def cos_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """cos of the angle a–b–c (vertex b)."""
    u, v = a - b, c - b
    return (u * v).sum(-1) / np.sqrt((u * u).sum(-1) * (v * v).sum(-1))


def angle(a, b, c) -> np.ndarray:
    """Angle a–b–c in radians (vertex b)."""
    return np.arccos(np.clip(cos_angle(a, b, c), -1.0, 1.0))


def dihedral(a, b, c, d) -> np.ndarray:
    """IUPAC dihedral angle a–b–c–d in radians, in (−π, π] (trans = π)."""
    b0, b1, b2 = b - a, c - b, d - c
    n1, n2 = np.cross(b0, b1), np.cross(b1, b2)
    y = np.sqrt((b1 * b1).sum(-1)) * (b0 * n2).sum(-1)
    x = (n1 * n2).sum(-1)
    return np.arctan2(y, x)


# -- the term formulas: X (K, n, 3) Å, parameters (K,) arrays, energy (K,) kcal/mol -----------------

def e_bond(X, r0, k):
    return k * (distance(X[:, 0], X[:, 1]) - r0) ** 2


def e_angle(X, theta0, k):
    return k * (angle(X[:, 0], X[:, 1], X[:, 2]) - theta0) ** 2


def e_dihedral(X, phi0, k1, k3):
    d = dihedral(X[:, 0], X[:, 1], X[:, 2], X[:, 3]) - phi0
    return k1 * (1.0 - np.cos(d)) + k3 * (1.0 - np.cos(3.0 * d))


def e_contact(X, sigma, eps, eps_rep, c_rep, width):
    r = distance(X[:, 0], X[:, 1])
    s = sigma / r
    attractive = eps * (5.0 * s**12 - 6.0 * s**10)
    destabilising = eps_rep * (c_rep / r) ** 12 - eps * np.exp(-((r - sigma) ** 2) / (2.0 * width**2))
    return np.where(eps >= 0, attractive, destabilising)


def e_repulsion(X, eps_rep, c_rep):
    return eps_rep * (c_rep / distance(X[:, 0], X[:, 1])) ** 12


def switch(r, r_half, beta):
    """Smooth contact switch 1 / (1 + exp(β (r − r_half))), written with tanh (no overflow)."""
    return 0.5 * (1.0 - np.tanh(0.5 * beta * (r - r_half)))


def e_triangle(X, s12, s13, s23, kappa, beta, tol):
    r12, r13, r23 = distance(X[:, 0], X[:, 1]), distance(X[:, 0], X[:, 2]), distance(X[:, 1], X[:, 2])
    return -kappa * switch(r12, tol * s12, beta) * switch(r13, tol * s13, beta) * switch(r23, tol * s23, beta)


def _sw_exp(r, gamma_sigma, cut):
    """exp(γσ / (r − aσ)) for r < aσ, exactly 0 beyond (no overflow)."""
    inside = r < cut
    return np.where(inside, np.exp(gamma_sigma / np.where(inside, r - cut, -1.0)), 0.0)


def e_sw2(X, eps, sigma, a, A, B, p, q):
    r = distance(X[:, 0], X[:, 1])
    s = sigma / r
    return A * eps * (B * s**p - s**q) * _sw_exp(r, sigma, a * sigma)


def e_sw3(X, eps, sigma, a, lam, gamma, cos0):
    """Atoms (centre i, j, k)."""
    ci, xj, xk = X[:, 0], X[:, 1], X[:, 2]
    rij, rik = distance(ci, xj), distance(ci, xk)
    c = cos_angle(xj, ci, xk)
    cut = a * sigma
    return lam * eps * (c - cos0) ** 2 * _sw_exp(rij, gamma * sigma, cut) * _sw_exp(rik, gamma * sigma, cut)


# -- term sets, tables and the decomposition ------------------------------------------------------------

@dataclass
class TermSet:
    """Terms of one kind: their atoms (K, body) and a vectorised energy of their coordinates.

    ``energy(X)`` maps (K, body, 3) coordinates (already unwrapped for periodic systems) to (K,).
    """

    kind: str
    atoms: np.ndarray
    energy: Callable[[np.ndarray], np.ndarray]


@dataclass
class TermTable:
    kind: str
    atoms: np.ndarray          # (K, body) int64
    energy: np.ndarray         # (K,) kcal/mol
    forces: np.ndarray | None = None  # (K, body, 3) kcal/mol/Å: minus the gradient of each term

    @property
    def body(self) -> int:
        return KINDS[self.kind][0]

    @property
    def bonded(self) -> bool:
        return KINDS[self.kind][1]


def _aggregate(atoms: np.ndarray, energy: np.ndarray, body: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum energies over identical sorted bead tuples: ((U, body) int64, (U,) float64)."""
    if not len(atoms):
        return np.zeros((0, body), np.int64), np.zeros(0)
    key = np.sort(atoms, axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    out = np.zeros(len(uniq))
    np.add.at(out, inv.reshape(-1), energy)
    return uniq.astype(np.int64), out


@dataclass
class Decomposition:
    n_beads: int
    terms: dict[str, TermTable] = field(default_factory=dict)
    forces: np.ndarray | None = None

    @property
    def total(self) -> float:
        return float(sum(t.energy.sum() for t in self.terms.values()))

    def energy_of(self, kind: str) -> float:
        return float(self.terms[kind].energy.sum()) if kind in self.terms else 0.0

    def _body(self, body: int, bonded: bool | None) -> tuple[np.ndarray, np.ndarray]:
        sel = [t for t in self.terms.values() if t.body == body and (bonded is None or t.bonded == bonded)]
        if not sel:
            return np.zeros((0, body), np.int64), np.zeros(0)
        return _aggregate(np.concatenate([t.atoms for t in sel]), np.concatenate([t.energy for t in sel]), body)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Non-bonded 2-body energy per bead pair (i < j) that has a term (kcal/mol)."""
        return self._body(2, False)

    def triplets(self) -> tuple[np.ndarray, np.ndarray]:
        """Non-bonded 3-body energy per bead triplet (i < j < k) that has a term (kcal/mol)."""
        return self._body(3, False)

    def bonded(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {k: (t.atoms, t.energy) for k, t in self.terms.items() if t.bonded}

    def by_body_order(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Every term, bonded or not, summed per sorted bead tuple, by body order."""
        orders = sorted({t.body for t in self.terms.values()})
        return {b: self._body(b, None) for b in orders}


def _unwrap(x: np.ndarray, atoms: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    """(K, body, 3) coordinates of the terms' atoms, each made whole around its first atom."""
    X = x[atoms]
    if box is not None and len(atoms):
        d = X - X[:, :1]
        X = X[:, :1] + d - box * np.round(d / box)
    return X


def term_forces(energy: Callable, X: np.ndarray, h: float = FD_STEP_A) -> np.ndarray:
    """(K, body, 3) forces −∂E_term/∂x by a 5-point central difference of each term's own energy."""
    F = np.zeros_like(X)
    for m in range(X.shape[1]):
        for c in range(3):
            vals = []
            for s in (2, 1, -1, -2):
                Xs = X.copy()
                Xs[:, m, c] += s * h
                vals.append(energy(Xs))
            F[:, m, c] = -(-vals[0] + 8.0 * vals[1] - 8.0 * vals[2] + vals[3]) / (12.0 * h)
    return F


def decompose(model, x: np.ndarray, box: np.ndarray | None = None, forces: bool = False) -> Decomposition:
    """Per-term energies (and forces) of frame ``x`` (N, 3) Å of a ground-truth ``model``.

    ``box``: orthorhombic box lengths (3,) Å of a periodic model (mW), None for the Gō model.
    """
    x = np.asarray(x, np.float64)
    box = None if box is None else np.asarray(box, np.float64).reshape(3)
    dec = Decomposition(n_beads=len(x))
    total_f = np.zeros_like(x) if forces else None
    for ts in model.term_sets(x, box):
        atoms = np.asarray(ts.atoms, np.int64).reshape(-1, KINDS[ts.kind][0])
        X = _unwrap(x, atoms, box)
        e = np.asarray(ts.energy(X), np.float64) if len(atoms) else np.zeros(0)
        f = None
        if forces:
            f = term_forces(ts.energy, X) if len(atoms) else np.zeros((0, atoms.shape[1], 3))
            np.add.at(total_f, atoms.reshape(-1), f.reshape(-1, 3))
        if ts.kind in dec.terms:  # several sets of one kind: concatenate
            old = dec.terms[ts.kind]
            e = np.concatenate([old.energy, e])
            f = None if f is None else np.concatenate([old.forces, f])
            atoms = np.concatenate([old.atoms, atoms])
        dec.terms[ts.kind] = TermTable(ts.kind, atoms, e, f)
    dec.forces = total_f
    return dec


# -- OpenMM ----------------------------------------------------------------------------------------

def openmm_energy_forces(system, x: np.ndarray, box: np.ndarray | None = None, platform: str = "Reference",
                         groups: set[int] | None = None) -> tuple[float, np.ndarray]:
    """Energy (kcal/mol) and forces (N, 3) kcal/mol/Å of OpenMM ``system`` at ``x`` (Å), one thread.

    ``groups``: force groups to include (default all).
    """
    import openmm
    from openmm import unit

    plat = openmm.Platform.getPlatformByName(platform)
    props = {"Threads": "1"} if platform == "CPU" else {}
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), plat, props)
    if box is not None:
        b = np.asarray(box, np.float64) / 10.0
        ctx.setPeriodicBoxVectors(openmm.Vec3(b[0], 0, 0), openmm.Vec3(0, b[1], 0), openmm.Vec3(0, 0, b[2]))
    ctx.setPositions(np.asarray(x, np.float64) / 10.0 * unit.nanometer)
    kw = {} if groups is None else {"groups": set(groups)}
    st = ctx.getState(getEnergy=True, getForces=True, **kw)
    e = st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole) / KCAL_TO_KJ
    f = st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer) * KJ_PER_NM_TO_KCAL_PER_A
    del ctx
    return float(e), np.asarray(f, np.float64)
