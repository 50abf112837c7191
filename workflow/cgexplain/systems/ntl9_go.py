"""A sequence-aware Cα Gō model of NTL9 whose energy is known term by term (ground truth).

The form is that of Clementi, Nymeyer & Onuchic, J. Mol. Biol. 298, 937 (2000) on the Cα beads of
the shipped folded structure (``resources/ntl9/ntl9_folded.pdb``, residues 1–39, one bead per
residue), energies in units of ε (``GoParams.eps_kcal``, kcal/mol), distances in Å:

* bonds ``K_r (r − r0)²``, K_r = 100 ε/Å²; angles ``K_θ (θ − θ0)²``, K_θ = 20 ε/rad²;
* dihedrals ``K1 [1 − cos(φ − φ0)] + K3 [1 − cos 3(φ − φ0)]``, K1 = ε, K3 = ε/2, times
  ``helix_dihedral_scale`` for the dihedrals whose four beads lie in the helix;
* native contacts: bead pairs |i − j| ≥ 4 with native Cα–Cα distance σ_ij < 8 Å (80 pairs; the
  Cα-only variant of Clementi's heavy-atom map, and the same pairs and cutoff as the folding states
  of :mod:`cgexplain.analysis.folding`), ``ε_ij [5 (σ_ij/r)^12 − 6 (σ_ij/r)^10]`` (minimum −ε_ij at σ_ij);
* every other pair with |i − j| ≥ 4: repulsion ``ε (C/r)^12``, C = 4 Å;
* r0, θ0, φ0, σ_ij from the native structure.

Sequence-aware extensions (all documented numbers are defaults of :class:`GoParams`):

* **Class table.** Each residue belongs to one of six classes (:data:`CLASS_OF`): hydrophobic
  (A V L I M C P), aromatic (F W Y), polar (S T N Q H), positive (K R), negative (D E), glycine (G).
  A native contact's strength is ``ε_ij = ε · region_ij · M[class_i, class_j]`` with the symmetric
  table :data:`CLASS_TABLE`. A mutation changes a bead's type, hence its class and exactly the
  ε_ij of the native contacts that involve that bead (nothing else depends on the sequence).
* **Planted destabilising pairs.** ``M[hydrophobic, negative] < 0``: a native contact between a
  hydrophobic and a negatively charged residue costs energy when formed,
  ``ε (C/r)^12 + |ε_ij| exp(−(r − σ_ij)² / 2w²)`` (w = 1 Å), positive at the native distance. In
  the folded structure these are MET1–ASP23, MET1–GLU38, VAL3–GLU38 (Cα–Cα 4.5 Å, across β1–β3),
  ILE4–GLU17, ILE4–GLU38, LEU6–GLU17 and ASP8–LEU35 (7 pairs; with ε = 0.80 kcal/mol and the region
  scales below, |ε_ij| = 0.60 kcal/mol for MET1–ASP23, VAL3–GLU38, ILE4–GLU38, 0.48 for the others). Hydrophobic–positive contacts are kept
  weakly attractive (0.4: the lysine side chain is mostly aliphatic), so that not every lysine contact
  of this lysine-rich protein destabilises it.
* **Region scale** (structural, not sequence, heterogeneity; chosen so that the paper's states are
  visited): ``region_ij`` = ``beta12_scale`` (1.25) for pairs between β1 and β2, ``beta13_scale``
  (1.25) between β1 and β3, ``helix_scale`` (0.7) inside the helix, ``packing_scale`` (1.25) between
  a helix bead and a bead outside it, 1 otherwise; the dihedrals inside the helix are scaled by
  ``helix_dihedral_scale`` (0.6). A homogeneous Gō model keeps the helix's local structure in its
  unfolded basin, so U and P2 (helix not formed) are hardly visited; a weaker helix (internal
  contacts and dihedrals) that the tertiary packing stabilises, with stronger β-pairings, opens them.
  Calibration (``benchmarks/bench_go.py``, 10 fs, 1/ps): a much weaker helix (dihedrals 0.3–0.5) lets
  U appear but leaves the helix half-formed even in the folded basin (state F rare, "other"
  dominant); native-strength helix dihedrals keep it formed in the unfolded basin; β1–β2 at 1.5 ×
  makes P2 the intermediate and P1 vanish. P1 stays rare (< 1 %) in every variant tried.
* **3-body cooperativity.** Every triangle of beads whose three pairs are all native contacts (5 in
  the folded structure: MET1–VAL21–ALA26, MET1–ALA22–ALA26, LYS2/VAL3/ILE4–ILE18–ALA39) carries
  ``−κ S(r_ij) S(r_ik) S(r_jk)``, ``S(r) = 1 / (1 + exp(β (r − t σ)))`` (κ = ``triangle_kappa`` ε,
  β = 5 Å⁻¹, t = 1.2: the tolerance of the folding states), a bonus when all three contacts are
  formed and nothing (no 2-body remainder) when any one is broken. Triangles are geometric (they do
  not depend on the sequence).

Elements (β1, β2, β3, helix) come from DSSP of the structure, as in
:func:`cgexplain.data.structure.secondary_structure` (:func:`native_structure`).

**Calibration** (``benchmarks/bench_go.py``; 8 replicas × 3 ns per temperature, half started unfolded):
ε = 0.80 kcal/mol puts the midpoint (fraction with Q ≥ 0.7 = fraction with Q ≤ 0.3) at 354 K. At
350 K (8 replicas × 6 ns, 5.5 ns kept): Q ≥ 0.7 41 %, Q ≤ 0.3 20 %; states F 19.7 %, U 5.8 %,
P1 0.2 %, P2 1.1 %, other 73 %; 26 folding or unfolding events (0.59 per replica per ns; 7 of the 8
replicas crossed, per replica 0–7). Every term scales with ε, so a run at T with ε is a
run at T·ε'/ε with ε' (e.g. ε = 0.79 moves the midpoint to 350 K).

All beads weigh ``bead_mass_amu`` (100 amu, the mass of an average residue; equal masses keep a
mutation from changing anything but energies). With 10 fs steps, friction 1/ps, OpenMM's CPU platform
on one thread runs ~10⁴ steps/s (``benchmarks/bench_go.py``).

API::

    build_model(structure=DEFAULT_STRUCTURE, params=GoParams(), sequence=None) -> GoModel
    GoModel.mutate("ILE4ASN") -> GoModel          # a new model; the bead's type and its ε_ij change
    GoModel.term_sets(x, box=None)                # the terms for cgexplain.systems.groundtruth.decompose
    openmm_system(model, n_copies=1) -> openmm.System   # n non-interacting copies (replica batches)
    topology(model, n_copies=1) -> openmm.app.Topology  # one residue and one atom "CA" per bead
    FORCE_GROUPS                                  # kind -> OpenMM force group

:class:`NTL9Go` is the same model behind the system contract (``systems.<name>.system: ntl9_go``):
its "all-atom" reference MD is the bead system itself, so its CG map is the identity and the mapped
forces are the exact forces of the model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.residues import ONE_LETTER, THREE_LETTER, chain_bonds, parse_mutation, residue_type, type_names
from ..data.structure import ca_coordinates, ca_sequence, secondary_structure
from . import AtomTable, CGMap, System, register
from . import groundtruth as gt

REPO = Path(__file__).resolve().parents[3]
DEFAULT_STRUCTURE = "resources/ntl9/ntl9_folded.pdb"

CLASSES = ("hydrophobic", "aromatic", "polar", "positive", "negative", "glycine")
#: one-letter code -> class index into :data:`CLASSES`
CLASS_OF = {**{c: 0 for c in "AVLIMCP"}, **{c: 1 for c in "FWY"}, **{c: 2 for c in "STNQH"},
            **{c: 3 for c in "KR"}, **{c: 4 for c in "DE"}, "G": 5}
#: contact-strength multipliers M[class_i, class_j] (symmetric; negative = destabilising pair)
CLASS_TABLE = np.array([
    #  hyd   aro   pol   pos   neg   gly
    [1.2,  1.3,  0.7,  0.4, -0.6,  0.6],   # hydrophobic
    [1.3,  1.5,  0.8,  0.9,  0.5,  0.6],   # aromatic
    [0.7,  0.8,  0.8,  0.7,  0.7,  0.5],   # polar
    [0.4,  0.9,  0.7,  0.3,  1.2,  0.5],   # positive
    [-0.6, 0.5,  0.7,  1.2,  0.3,  0.5],   # negative
    [0.6,  0.6,  0.5,  0.5,  0.5,  0.5],   # glycine
])
assert np.allclose(CLASS_TABLE, CLASS_TABLE.T)

#: OpenMM force group of each term kind
FORCE_GROUPS = {"bond": 0, "angle": 1, "dihedral": 2, "contact": 3, "repulsion": 4, "triangle": 5}


@dataclass(frozen=True)
class GoParams:
    """Parameters of the Gō model (energies in ε unless named _kcal, distances in Å)."""

    eps_kcal: float = 0.80             # ε in kcal/mol (calibrated: folding midpoint 354 K, bench_go.py)
    k_bond: float = 100.0              # ε/Å²
    k_angle: float = 20.0              # ε/rad²
    k_dih1: float = 1.0                # ε
    k_dih3: float = 0.5                # ε
    contact_cutoff_A: float = 8.0      # native contact: Cα–Cα below this in the native structure
    min_seq_sep: int = 4               # |i − j| >= this for contacts and repulsion
    repulsion_C_A: float = 4.0         # C of ε (C/r)^12
    destab_width_A: float = 1.0        # w of the destabilising Gaussian
    beta12_scale: float = 1.25         # region scale of β1–β2 contacts
    beta13_scale: float = 1.25         # region scale of β1–β3 contacts
    helix_scale: float = 0.7           # region scale of contacts inside the helix
    packing_scale: float = 1.25        # region scale of contacts between the helix and the rest
    helix_dihedral_scale: float = 0.6  # scale of K1, K3 for dihedrals inside the helix
    helix_angle_scale: float = 1.0     # scale of K_θ for angles inside the helix
    triangle_kappa: float = 1.0        # ε per triangle of native contacts
    triangle_beta_per_A: float = 5.0   # steepness of the contact switch
    triangle_tolerance: float = 1.2    # switch midpoint at tolerance · σ_ij
    bead_mass_amu: float = 100.0


@dataclass
class GoModel:
    """The parameters of every term, in kcal/mol and Å (derived from :class:`GoParams` by
    :func:`build_model`)."""

    params: GoParams
    sequence: str                      # one-letter, N
    native: np.ndarray                 # (N, 3) Å
    elements: dict                     # β1, β2, β3, helix: inclusive 0-based bead ranges
    bonds: np.ndarray                  # (N-1, 2)
    bond_r0: np.ndarray
    bond_k: np.ndarray                 # kcal/mol/Å² (E = k (r − r0)²)
    angles: np.ndarray                 # (N-2, 3)
    angle_theta0: np.ndarray           # rad
    angle_k: np.ndarray                # kcal/mol/rad²
    dihedrals: np.ndarray              # (N-3, 4)
    dihedral_phi0: np.ndarray          # rad (IUPAC)
    dihedral_k1: np.ndarray            # kcal/mol
    dihedral_k3: np.ndarray
    contacts: np.ndarray               # (C, 2) native contacts
    contact_sigma: np.ndarray          # Å
    contact_region: np.ndarray         # region scale (structure only)
    contact_eps: np.ndarray            # kcal/mol, signed (negative: destabilising)
    repulsive: np.ndarray              # (R, 2) non-native pairs
    triangles: np.ndarray              # (T, 3)
    triangle_sigma: np.ndarray         # (T, 3): σ of pairs (0,1), (0,2), (1,2)
    mutations: tuple = ()
    structure: str = ""

    @property
    def n_beads(self) -> int:
        return len(self.sequence)

    @property
    def z(self) -> np.ndarray:
        """Bead types (1..20, :mod:`cgexplain.systems.protein`)."""
        return np.array([residue_type(c) for c in self.sequence], np.int64)

    @property
    def bead_names(self) -> np.ndarray:
        return type_names(self.z)

    @property
    def eps_rep(self) -> float:
        return self.params.eps_kcal

    @property
    def triangle_kappa_kcal(self) -> float:
        return self.params.triangle_kappa * self.params.eps_kcal

    def destabilising(self) -> np.ndarray:
        """(D, 2) native contacts with ε_ij < 0."""
        return self.contacts[self.contact_eps < 0]

    def mutate(self, mutation: str) -> GoModel:
        """A new model with the bead type changed (``ILE4ASN``: residue 4, ILE -> ASN; residue numbers
        from 1): the class of the bead and the ε_ij of its native contacts follow."""
        bead, new = parse_mutation(mutation, self.bead_names)
        seq = list(self.sequence)
        seq[bead] = ONE_LETTER[residue_type(new) - 1]
        seq = "".join(seq)
        return dataclasses.replace(self, sequence=seq,
                                   contact_eps=contact_eps(seq, self.contacts, self.contact_region, self.params),
                                   mutations=self.mutations + (mutation,))

    def term_sets(self, x=None, box=None) -> list[gt.TermSet]:
        """The terms of the model (frame-independent lists) for :func:`.groundtruth.decompose`."""
        p = self.params
        ts = gt.TermSet
        r0, kb = self.bond_r0, self.bond_k
        t0, ka = self.angle_theta0, self.angle_k
        f0, k1, k3 = self.dihedral_phi0, self.dihedral_k1, self.dihedral_k3
        sig, eps = self.contact_sigma, self.contact_eps
        er, c, w = self.eps_rep, p.repulsion_C_A, p.destab_width_A
        ts3 = self.triangle_sigma
        kap, beta, tol = self.triangle_kappa_kcal, p.triangle_beta_per_A, p.triangle_tolerance
        return [
            ts("bond", self.bonds, lambda X: gt.e_bond(X, r0, kb)),
            ts("angle", self.angles, lambda X: gt.e_angle(X, t0, ka)),
            ts("dihedral", self.dihedrals, lambda X: gt.e_dihedral(X, f0, k1, k3)),
            ts("contact", self.contacts, lambda X: gt.e_contact(X, sig, eps, er, c, w)),
            ts("repulsion", self.repulsive, lambda X: gt.e_repulsion(X, er, c)),
            ts("triangle", self.triangles,
               lambda X: gt.e_triangle(X, ts3[:, 0], ts3[:, 1], ts3[:, 2], kap, beta, tol)),
        ]

    def summary(self) -> dict:
        """Counts and the numbers of the sequence-aware terms (for reports and logs)."""
        names = self.bead_names
        lab = lambda i: f"{names[i]}{i + 1}"
        return {
            "n_beads": self.n_beads, "n_contacts": len(self.contacts), "n_repulsive": len(self.repulsive),
            "n_triangles": len(self.triangles), "eps_kcal": self.params.eps_kcal,
            "destabilising": [(lab(i), lab(j), round(float(e), 4)) for (i, j), e in
                              zip(self.contacts, self.contact_eps) if e < 0],
            "triangles": [tuple(lab(int(i)) for i in t) for t in self.triangles],
        }


# -- construction -------------------------------------------------------------------------------------

def _resolve(path) -> Path:
    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO / p


def native_structure(structure=DEFAULT_STRUCTURE, min_strand: int = 2, min_helix: int = 4
                     ) -> tuple[np.ndarray, str, dict]:
    """(Cα coordinates (N, 3) Å, one-letter sequence, elements) of a folded structure.

    The elements are :func:`cgexplain.data.structure.secondary_structure`'s (simplified DSSP of mdtraj on
    the whole structure; the three longest E runs of >= ``min_strand`` beads in sequence order, the longest
    H run of >= ``min_helix``), the same the folding states use.
    """
    path = _resolve(structure)
    return (ca_coordinates(path), ca_sequence(path),
            secondary_structure(path, min_strand=min_strand, min_helix=min_helix))


def contact_eps(sequence: str, contacts: np.ndarray, region: np.ndarray, params: GoParams) -> np.ndarray:
    """Signed ε_ij (kcal/mol) of native contacts: ε · region · M[class_i, class_j]."""
    cls = np.array([CLASS_OF[c] for c in sequence])
    return params.eps_kcal * region * CLASS_TABLE[cls[contacts[:, 0]], cls[contacts[:, 1]]]


def _in(k, rng) -> bool:
    return rng[0] <= k <= rng[1]


def build_model(structure=DEFAULT_STRUCTURE, params: GoParams | None = None, sequence: str | None = None,
                mutations=()) -> GoModel:
    """The Gō model of the folded ``structure``; ``sequence`` (one-letter) overrides the structure's
    residues (same length), ``mutations`` are applied in order."""
    p = params or GoParams()
    x, seq, el = native_structure(structure)
    if sequence is not None:
        sequence = sequence.strip().upper()
        if len(sequence) != len(seq):
            raise ValueError(f"sequence of {len(sequence)} residues for a structure of {len(seq)}")
        seq = sequence
    n = len(x)
    e = p.eps_kcal
    bonds = chain_bonds(n)
    angles = np.stack([np.arange(n - 2), np.arange(1, n - 1), np.arange(2, n)], 1)
    dihs = np.stack([np.arange(n - 3) + k for k in range(4)], 1)
    r0 = gt.distance(x[bonds[:, 0]], x[bonds[:, 1]])
    th0 = gt.angle(x[angles[:, 0]], x[angles[:, 1]], x[angles[:, 2]])
    ph0 = gt.dihedral(*(x[dihs[:, k]] for k in range(4)))
    dscale = np.array([p.helix_dihedral_scale if all(_in(int(b), el["helix"]) for b in d) else 1.0 for d in dihs])
    ascale = np.array([p.helix_angle_scale if all(_in(int(b), el["helix"]) for b in a) else 1.0 for a in angles])
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    iu, ju = np.triu_indices(n, p.min_seq_sep)
    native = d[iu, ju] < p.contact_cutoff_A
    contacts = np.stack([iu[native], ju[native]], 1).astype(np.int64)
    repulsive = np.stack([iu[~native], ju[~native]], 1).astype(np.int64)
    region = np.ones(len(contacts))
    for k, (i, j) in enumerate(contacts):
        if _in(i, el["beta1"]) and _in(j, el["beta2"]):
            region[k] = p.beta12_scale
        elif _in(i, el["beta1"]) and _in(j, el["beta3"]):
            region[k] = p.beta13_scale
        elif _in(i, el["helix"]) and _in(j, el["helix"]):
            region[k] = p.helix_scale
        elif _in(i, el["helix"]) or _in(j, el["helix"]):
            region[k] = p.packing_scale
    cset = {(int(i), int(j)) for i, j in contacts}
    tri = np.array(sorted((i, j, k) for (i, j) in cset for k in range(j + 1, n)
                          if (i, k) in cset and (j, k) in cset), np.int64).reshape(-1, 3)
    tri_sig = np.stack([d[tri[:, 0], tri[:, 1]], d[tri[:, 0], tri[:, 2]], d[tri[:, 1], tri[:, 2]]], 1)
    model = GoModel(
        params=p, sequence=seq, native=x, elements={k: tuple(int(v) for v in r) for k, r in el.items()},
        bonds=bonds, bond_r0=r0, bond_k=np.full(len(bonds), p.k_bond * e),
        angles=angles, angle_theta0=th0, angle_k=p.k_angle * e * ascale,
        dihedrals=dihs, dihedral_phi0=ph0, dihedral_k1=p.k_dih1 * e * dscale, dihedral_k3=p.k_dih3 * e * dscale,
        contacts=contacts, contact_sigma=d[contacts[:, 0], contacts[:, 1]], contact_region=region,
        contact_eps=contact_eps(seq, contacts, region, p), repulsive=repulsive,
        triangles=tri, triangle_sigma=tri_sig, structure=str(structure))
    for m in mutations:
        model = model.mutate(m)
    return model


# -- OpenMM -------------------------------------------------------------------------------------------

CONTACT_EXPR = ("select(step(eps), eps*(5*(s/r)^12 - 6*(s/r)^10), erep*(C/r)^12 - eps*exp(-(r-s)^2/(2*w^2)))")
TRIANGLE_EXPR = ("-kappa*s1*s2*s3; "
                 "s1 = 0.5*(1 - tanh(0.5*beta*(distance(p1,p2) - tol*d12))); "
                 "s2 = 0.5*(1 - tanh(0.5*beta*(distance(p1,p3) - tol*d13))); "
                 "s3 = 0.5*(1 - tanh(0.5*beta*(distance(p2,p3) - tol*d23)))")


def openmm_system(model, n_copies: int = 1):
    """OpenMM System of ``n_copies`` non-interacting copies of ``model`` (beads of copy c are
    c·N … c·N + N − 1), or of one copy of each model of a list (same length N; e.g. different ε,
    i.e. different effective temperatures, in one context). Every interaction is an explicit list
    (no cutoff, no neighbour list), so one Langevin context runs a batch of independent replicas.
    Force groups: :data:`FORCE_GROUPS`."""
    import openmm

    models = list(model) if isinstance(model, (list, tuple)) else [model] * int(n_copies)
    p = models[0].params
    kj = gt.KCAL_TO_KJ
    n = models[0].n_beads
    A2NM = 0.1
    sysm = openmm.System()
    for m in models:
        if m.n_beads != n:
            raise ValueError("all models of one system need the same number of beads")
        for _ in range(n):
            sysm.addParticle(m.params.bead_mass_amu)
    bond = openmm.HarmonicBondForce()
    ang = openmm.HarmonicAngleForce()
    dih = openmm.PeriodicTorsionForce()
    con = openmm.CustomBondForce(CONTACT_EXPR)
    con.addGlobalParameter("C", p.repulsion_C_A * A2NM)
    con.addGlobalParameter("w", p.destab_width_A * A2NM)
    for name in ("eps", "s", "erep"):
        con.addPerBondParameter(name)
    rep = openmm.CustomBondForce("erep*(C/r)^12")
    rep.addGlobalParameter("C", p.repulsion_C_A * A2NM)
    rep.addPerBondParameter("erep")
    tri = openmm.CustomCompoundBondForce(3, TRIANGLE_EXPR)
    tri.addGlobalParameter("beta", p.triangle_beta_per_A / A2NM)
    tri.addGlobalParameter("tol", p.triangle_tolerance)
    for name in ("d12", "d13", "d23", "kappa"):
        tri.addPerBondParameter(name)
    for c, m in enumerate(models):
        q = m.params
        if (q.repulsion_C_A, q.destab_width_A, q.triangle_beta_per_A, q.triangle_tolerance) != \
                (p.repulsion_C_A, p.destab_width_A, p.triangle_beta_per_A, p.triangle_tolerance):
            raise ValueError("models of one system may differ in energies, not in C, w or the triangle switch")
        o = c * n
        erep = m.eps_rep * kj
        for (i, j), r0, k in zip(m.bonds, m.bond_r0, m.bond_k):
            bond.addBond(o + int(i), o + int(j), r0 * A2NM, 2.0 * k * kj / A2NM**2)
        for (i, j, l), t0, k in zip(m.angles, m.angle_theta0, m.angle_k):
            ang.addAngle(o + int(i), o + int(j), o + int(l), t0, 2.0 * k * kj)
        for (i, j, l, mm), f0, k1, k3 in zip(m.dihedrals, m.dihedral_phi0, m.dihedral_k1, m.dihedral_k3):
            a = [o + int(v) for v in (i, j, l, mm)]
            dih.addTorsion(*a, 1, f0 + math.pi, k1 * kj)
            dih.addTorsion(*a, 3, 3.0 * f0 + math.pi, k3 * kj)
        for (i, j), s, e in zip(m.contacts, m.contact_sigma, m.contact_eps):
            con.addBond(o + int(i), o + int(j), [e * kj, s * A2NM, erep])
        for i, j in m.repulsive:
            rep.addBond(o + int(i), o + int(j), [erep])
        for (i, j, l), (s12, s13, s23) in zip(m.triangles, m.triangle_sigma):
            tri.addBond([o + int(i), o + int(j), o + int(l)],
                        [s12 * A2NM, s13 * A2NM, s23 * A2NM, m.triangle_kappa_kcal * kj])
    for kind, f in (("bond", bond), ("angle", ang), ("dihedral", dih), ("contact", con), ("repulsion", rep),
                    ("triangle", tri)):
        f.setForceGroup(FORCE_GROUPS[kind])
        sysm.addForce(f)
    return sysm


def update_contacts(model: GoModel, omm_system, context=None, n_copies: int = 1) -> None:
    """Write the ε_ij of ``model`` (e.g. after :meth:`GoModel.mutate`) into a system built by
    :func:`openmm_system` (and into ``context``, if given)."""
    con = next(f for f in omm_system.getForces() if f.getForceGroup() == FORCE_GROUPS["contact"])
    kj = gt.KCAL_TO_KJ
    C = len(model.contacts)
    for c in range(n_copies):
        for k, (s, e) in enumerate(zip(model.contact_sigma, model.contact_eps)):
            i, j, _ = con.getBondParameters(c * C + k)
            con.setBondParameters(c * C + k, i, j, [e * kj, s * 0.1, model.eps_rep * kj])
    if context is not None:
        con.updateParametersInContext(context)


def topology(model: GoModel, n_copies: int = 1):
    """One chain per copy, one residue (three-letter name) and one carbon atom ``CA`` per bead,
    bonds along the chain."""
    from openmm import app

    top = app.Topology()
    carbon = app.Element.getBySymbol("C")
    for _ in range(n_copies):
        chain = top.addChain()
        prev = None
        for k, name in enumerate(model.bead_names):
            res = top.addResidue(str(name), chain, id=str(k + 1))
            atom = top.addAtom("CA", carbon, res)
            if prev is not None:
                top.addBond(prev, atom)
            prev = atom
    return top


# -- the system contract ------------------------------------------------------------------------------

_POS = {"type": "number", "exclusiveMinimum": 0}
_NONNEG = {"type": "number", "minimum": 0}
DEFAULT_MD = {"timestep_fs": 10.0, "n_folded": 4, "n_unfolded": 4, "unfold_temperature_K": 600.0,
              "unfold_ps": 200.0}


def _params(cfg: dict) -> GoParams:
    over = dict(cfg.get("go") or {})
    return GoParams(**over)


@register
class NTL9Go(System):
    """The Gō model of NTL9 as a system: the reference "MD" runs the bead model itself (identity CG
    map, exact forces); ``md.n_folded`` replicas start folded, ``md.n_unfolded`` more after
    ``md.unfold_ps`` at ``md.unfold_temperature_K``."""

    name = "ntl9_go"
    periodic = False
    figures = ("protein",)
    analysis_keys = ("mutations",)
    config_schema = {
        "properties": {
            "sequence": {"type": "string", "pattern": "^[ACDEFGHIKLMNPQRSTVWY]+$"},
            "structure": {"type": "string", "default": DEFAULT_STRUCTURE},
            "mutations": {"type": "array", "uniqueItems": True,
                          "items": {"type": "string", "pattern": "^[A-Z]{3}[0-9]+[A-Z]{3}$"}},
            "go": {"type": "object", "additionalProperties": False,
                   "properties": {f.name: ({"type": "integer", "minimum": 1} if f.type in (int, "int")
                                           else {"type": "number"})
                                  for f in dataclasses.fields(GoParams)}},
            "md": {"type": "object", "additionalProperties": False, "properties": {
                "timestep_fs": _POS, "save_interval_ps": _POS, "equilibration_ps": _NONNEG, "production_ps": _POS,
                "n_folded": {"type": "integer", "minimum": 0}, "n_unfolded": {"type": "integer", "minimum": 0},
                "unfold_temperature_K": _POS, "unfold_ps": _NONNEG}},
        },
        "required": ["sequence"],
    }

    def _md(self, cfg):
        return {**DEFAULT_MD, **(cfg.get("md") or {})}

    def model(self, cfg: dict, mutations=()) -> GoModel:
        return build_model(cfg.get("structure", DEFAULT_STRUCTURE), _params(cfg), cfg.get("sequence"), mutations)

    def label(self, cfg: dict) -> str:
        return f"Gō NTL9 (Cα structure-based ground truth, ε = {_params(cfg).eps_kcal:g} kcal/mol)"

    def truth_model(self, cfg: dict, n_beads: int | None = None, box=None) -> GoModel:
        """The wild-type Gō model of the block (``sequence``, ``structure``, ``go``; ``mutations`` not
        applied): the truth of :mod:`cgexplain.analysis.truth`."""
        m = self.model(cfg)
        if n_beads is not None and int(n_beads) != m.n_beads:
            raise ValueError(f"the Gō model has {m.n_beads} beads, the frames {n_beads}")
        return m

    def n_replicas(self, cfg: dict) -> int:
        md = self._md(cfg)
        return int(md["n_folded"]) + int(md["n_unfolded"])

    def structure_path(self, cfg: dict, source: Path | None = None) -> Path:
        return _resolve(cfg.get("structure", DEFAULT_STRUCTURE))

    def config_errors(self, cfg: dict) -> list[tuple[str, str]]:
        names = type_names(np.array([residue_type(c) for c in cfg["sequence"]]))
        errors = []
        for k, m in enumerate(cfg.get("mutations", [])):
            try:
                parse_mutation(m, names)
            except ValueError as e:
                errors.append((f"mutations.{k}", str(e)))
        return errors

    def build(self, cfg: dict, replica: int, seed: int, source: Path | None = None):
        from openmm import unit

        m = self.model(cfg)
        return topology(m), openmm_system(m), m.native * 0.1 * unit.nanometer

    def prepare_replica(self, sim, cfg: dict, replica: int, seed: int) -> None:
        from openmm import unit

        md = self._md(cfg)
        if replica < int(md["n_folded"]):
            return
        T = float(cfg.get("temperature_K", (cfg.get("md") or {}).get("temperature_K", 350.0)))
        Tu = float(md["unfold_temperature_K"])
        dt_ps = sim.integrator.getStepSize().value_in_unit(unit.picosecond)
        step0, time0 = sim.currentStep, sim.context.getTime()
        sim.integrator.setTemperature(Tu * unit.kelvin)
        sim.context.setVelocitiesToTemperature(Tu * unit.kelvin, (int(seed) * 7919 + 1) % (2**31 - 2) + 1)
        sim.step(int(round(float(md["unfold_ps"]) / dt_ps)))
        sim.integrator.setTemperature(T * unit.kelvin)
        sim.context.setVelocitiesToTemperature(T * unit.kelvin, (int(seed) * 7919 + 2) % (2**31 - 2) + 1)
        sim.currentStep = step0
        sim.context.setTime(time0)

    def cg_map(self, atoms: AtomTable) -> CGMap:
        """Identity: every particle is a bead; type from its residue name."""
        n = len(atoms.masses)
        names = np.char.strip(np.asarray(atoms.residue_names).astype(str)) if atoms.residue_names is not None else None
        if names is None:
            raise ValueError("the ntl9_go CG map needs residue_names in the atom table")
        z = np.array([residue_type(s) for s in names], np.int64)
        idx = np.arange(n, dtype=np.int64)
        return CGMap(bead_atom=idx, force_bead=idx, z=z, bead_names=type_names(z), bonds=chain_bonds(n))

    def start_frames(self, data: dict, n: int, rng: np.random.Generator) -> np.ndarray:
        from .ntl9 import NTL9

        return NTL9.start_frames(self, data, n, rng)


__all__ = [
    "CLASSES",
    "CLASS_OF",
    "CLASS_TABLE",
    "FORCE_GROUPS",
    "THREE_LETTER",
    "GoModel",
    "GoParams",
    "NTL9Go",
    "build_model",
    "openmm_system",
    "topology",
    "update_contacts",
]
