"""mW water (Molinero & Moore, J. Phys. Chem. B 113, 4008, 2009): a periodic one-bead fluid whose
energy is an explicit sum of 2- and 3-body Stillinger–Weber terms (ground truth).

    E = Σ_{i<j} φ2(r_ij) + Σ_i Σ_{j<k} φ3(r_ij, r_ik, θ_jik)
    φ2(r) = A ε [B (σ/r)^p − (σ/r)^q] exp(σ / (r − aσ))
    φ3    = λ ε (cos θ_jik − cos θ0)² exp(γσ / (r_ij − aσ)) exp(γσ / (r_ik − aσ))

both zero beyond r = aσ = 4.3065 Å; ε = 6.189 kcal/mol, σ = 2.3925 Å, a = 1.80, λ = 23.15, γ = 1.20,
cos θ0 = −1/3, A = 7.049556277, B = 0.6022245584, p = 4, q = 0; bead mass 18.015 amu.

OpenMM: ``CustomNonbondedForce`` (φ2, ``CutoffPeriodic`` at aσ, no switch, no long-range correction)
and ``CustomManyParticleForce`` (φ3, ``UniqueCentralParticle``: p1 is the centre, both others within
aσ of it — exactly the OpenMM documentation's Stillinger–Weber example). LAMMPS (``pair_style sw``,
``units real``) evaluates the same energy: :func:`lammps_energy_forces` runs it on one frame, and
``tests/test_groundtruth.py`` compares energy and forces with OpenMM and with
:func:`cgexplain.systems.groundtruth.decompose`.

Speed (216 beads, 10 fs, one thread): OpenMM's CPU platform runs ~9 steps/s — its
``CustomManyParticleForce`` is the bottleneck (the 2-body force alone: ~4,000 steps/s) —, LAMMPS
``pair_style sw`` ~760 steps/s (650 ns/day). On the CPU, run long mW reference MD with LAMMPS (or
OpenMM on a GPU); OpenMM here is the definition that the truth and the workflow share.

API::

    MW                                          # the parameters (kcal/mol, Å)
    box_edge_A(n_molecules, density_g_cm3=1.0)  # cubic box edge (Å)
    lattice_positions(n, box_edge, rng, jitter_A=0.3) -> (n, 3) Å   # simple-cubic start
    openmm_system(n, box_edge_A) -> openmm.System
    MWModel(n, box_edge_A).term_sets(x, box)    # the terms for cgexplain.systems.groundtruth.decompose
    lammps_energy_forces(x, box_edge_A) -> (E kcal/mol, F (n, 3) kcal/mol/Å)
    MWWater                                     # the system contract ("mw_water"), identity CG map
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import groundtruth as gt
from . import register
from .fluid import NONNEG, POS, MolecularFluid

AVOGADRO = 6.02214076e23
MASS_AMU = 18.015
MW = {"eps": 6.189, "sigma": 2.3925, "a": 1.80, "lam": 23.15, "gamma": 1.20, "cos0": -1.0 / 3.0,
      "A": 7.049556277, "B": 0.6022245584, "p": 4.0, "q": 0.0}
CUTOFF_A = MW["a"] * MW["sigma"]          # 4.3065 Å
#: the LAMMPS potential-file line (REFERENCE.md); cos θ0 to 12 digits as in the usual mW file
LAMMPS_SW_LINE = "mW mW mW 6.189 2.3925 1.80 23.15 1.20 -0.333333333333 7.049556277 0.6022245584 4.0 0.0 0.0"
FORCE_GROUPS = {"sw2": 0, "sw3": 1}


def box_edge_A(n_molecules: int, density_g_cm3: float = 1.0) -> float:
    """Edge (Å) of the cubic box holding ``n_molecules`` at ``density_g_cm3``."""
    vol_A3 = n_molecules * MASS_AMU / AVOGADRO / density_g_cm3 * 1e24
    return vol_A3 ** (1.0 / 3.0)


def lattice_positions(n: int, box_edge: float, rng: np.random.Generator | None = None,
                      jitter_A: float = 0.3) -> np.ndarray:
    """``n`` beads on the first ``n`` sites of a simple-cubic lattice filling the box, plus a uniform
    jitter of ±``jitter_A`` per coordinate (Å)."""
    m = math.ceil(n ** (1.0 / 3.0) - 1e-9)
    g = (np.arange(m) + 0.5) * box_edge / m
    sites = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    rng = rng or np.random.default_rng(0)
    pick = np.sort(rng.choice(len(sites), n, replace=False)) if n < len(sites) else np.arange(n)
    return sites[pick] + rng.uniform(-jitter_A, jitter_A, (n, 3))


def openmm_system(n: int, box_edge_A: float, mw: dict | None = None):
    """OpenMM System of ``n`` mW beads in a cubic periodic box (force groups :data:`FORCE_GROUPS`)."""
    import openmm

    p = {**MW, **(mw or {})}
    cut_nm = p["a"] * p["sigma"] / 10.0
    if box_edge_A / 10.0 < 2.0 * cut_nm:
        raise ValueError(f"box edge {box_edge_A:.3f} Å is shorter than twice the cutoff {20 * cut_nm:.4f} Å")
    s = openmm.System()
    L = box_edge_A / 10.0
    s.setDefaultPeriodicBoxVectors(openmm.Vec3(L, 0, 0), openmm.Vec3(0, L, 0), openmm.Vec3(0, 0, L))
    for _ in range(n):
        s.addParticle(MASS_AMU)
    # exp(σ/(r − aσ)) with r capped just below aσ: in single precision (CPU, GPU platforms) a pair that
    # passed the cutoff test on r² can round to r = aσ, and exp(σ/0) would be inf (NaN forces). Below
    # aσ − 1e-5 nm the cap changes nothing; above it both forms give exp(< −2e4) = 0 exactly.
    two = openmm.CustomNonbondedForce("A*eps*(B*(sigma/r)^p - (sigma/r)^q)*exp(sigma/(rc - a*sigma)); "
                                      "rc = min(r, a*sigma - 1e-5)")
    three = openmm.CustomManyParticleForce(
        3, "lam*eps*(cos(theta1) - cos0)^2*exp(gamma*sigma/(r12 - a*sigma))*exp(gamma*sigma/(r13 - a*sigma)); "
           "r12 = min(distance(p1,p2), a*sigma - 1e-5); r13 = min(distance(p1,p3), a*sigma - 1e-5); "
           "theta1 = angle(p3,p1,p2)")
    three.setPermutationMode(openmm.CustomManyParticleForce.UniqueCentralParticle)
    kj = gt.KCAL_TO_KJ
    for f, names in ((two, ("A", "eps", "B", "sigma", "p", "q", "a")),
                     (three, ("lam", "eps", "cos0", "gamma", "sigma", "a"))):
        for k in names:
            v = p[k] * (kj if k == "eps" else 0.1 if k == "sigma" else 1.0)
            f.addGlobalParameter(k, v)
    two.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    two.setCutoffDistance(cut_nm)
    two.setUseSwitchingFunction(False)
    two.setUseLongRangeCorrection(False)
    three.setNonbondedMethod(openmm.CustomManyParticleForce.CutoffPeriodic)
    three.setCutoffDistance(cut_nm)
    for _ in range(n):
        two.addParticle([])
        three.addParticle([])
    two.setForceGroup(FORCE_GROUPS["sw2"])
    three.setForceGroup(FORCE_GROUPS["sw3"])
    s.addForce(two)
    s.addForce(three)
    return s


def topology(n: int, box_edge_A: float):
    """One residue ``HOH`` with one atom ``O`` per bead, cubic box."""
    from openmm import Vec3, app, unit

    top = app.Topology()
    chain = top.addChain()
    oxygen = app.Element.getBySymbol("O")
    for k in range(n):
        top.addAtom("O", oxygen, top.addResidue("HOH", chain, id=str(k + 1)))
    L = box_edge_A / 10.0
    top.setPeriodicBoxVectors((Vec3(L, 0, 0), Vec3(0, L, 0), Vec3(0, 0, L)) * unit.nanometer)
    return top


def neighbour_pairs(x: np.ndarray, box: np.ndarray, cutoff: float) -> np.ndarray:
    """(P, 2) pairs i < j closer than ``cutoff`` (minimum image, orthorhombic ``box``)."""
    from scipy.spatial import cKDTree

    box = np.asarray(box, np.float64)
    tree = cKDTree(np.mod(x, box), boxsize=box)
    pairs = tree.query_pairs(cutoff, output_type="ndarray").astype(np.int64)
    pairs.sort(axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def centred_triplets(pairs: np.ndarray, n: int) -> np.ndarray:
    """(T, 3) (centre i, j, k), j < k, both neighbours of i."""
    nb = [[] for _ in range(n)]
    for i, j in pairs:
        nb[i].append(j)
        nb[j].append(i)
    out = []
    for i, js in enumerate(nb):
        if len(js) < 2:
            continue
        js = np.sort(np.asarray(js, np.int64))
        a, b = np.triu_indices(len(js), 1)
        out.append(np.stack([np.full(len(a), i), js[a], js[b]], 1))
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, 3), np.int64)


@dataclass
class MWModel:
    """The mW terms of a frame (pairs and centred triplets within aσ) for :mod:`cgexplain.systems.groundtruth`."""

    n: int
    box_edge_A: float

    def term_sets(self, x: np.ndarray, box=None) -> list[gt.TermSet]:
        box = np.full(3, self.box_edge_A) if box is None else np.asarray(box, np.float64)
        p = MW
        pairs = neighbour_pairs(x, box, CUTOFF_A)
        trip = centred_triplets(pairs, len(x))
        return [
            gt.TermSet("sw2", pairs, lambda X: gt.e_sw2(X, p["eps"], p["sigma"], p["a"], p["A"], p["B"], p["p"], p["q"])),
            gt.TermSet("sw3", trip, lambda X: gt.e_sw3(X, p["eps"], p["sigma"], p["a"], p["lam"], p["gamma"], p["cos0"])),
        ]


def lammps_energy_forces(x: np.ndarray, box_edge: float, lmp: str = "lmp", workdir: Path | None = None,
                         sw_line: str = LAMMPS_SW_LINE) -> tuple[float, np.ndarray]:
    """Energy (kcal/mol) and forces (n, 3) kcal/mol/Å of one mW frame by LAMMPS ``pair_style sw``
    (``units real``, ``run 0``), one process."""
    exe = shutil.which(lmp)
    if exe is None:
        raise FileNotFoundError(f"LAMMPS executable {lmp!r} not found")
    x = np.mod(np.asarray(x, np.float64), box_edge)
    box_edge = float(box_edge)
    n = len(x)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        d = Path(tmp)
        (d / "mW.sw").write_text(sw_line + "\n")
        lines = ["mW frame", "", f"{n} atoms", "1 atom types", "",
                 f"0.0 {box_edge!r} xlo xhi", f"0.0 {box_edge!r} ylo yhi", f"0.0 {box_edge!r} zlo zhi", "",
                 "Masses", "", f"1 {MASS_AMU}", "", "Atoms # atomic", ""]
        lines += [f"{k + 1} 1 {float(v[0])!r} {float(v[1])!r} {float(v[2])!r}" for k, v in enumerate(x)]
        (d / "data.mw").write_text("\n".join(lines) + "\n")
        (d / "in.mw").write_text("\n".join([
            "units real", "atom_style atomic", "boundary p p p", "read_data data.mw",
            "pair_style sw", "pair_coeff * * mW.sw mW", "neighbor 1.0 bin",
            "dump f all custom 1 forces.dump id fx fy fz",
            "dump_modify f sort id format float %.17g",
            "thermo_style custom step pe", "run 0",
            'print "ENERGY $(pe:%.17g)"', ""]))
        r = subprocess.run([exe, "-in", "in.mw", "-log", "none", "-screen", "lmp.out"], cwd=d, check=False,
                           capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
        out = (d / "lmp.out").read_text() if (d / "lmp.out").exists() else r.stdout
        if r.returncode != 0:
            raise RuntimeError(f"LAMMPS failed ({r.returncode}): {(out + r.stderr)[-2000:]}")
        energy = float(next(ln.split()[1] for ln in out.splitlines() if ln.startswith("ENERGY")))
        rows = (d / "forces.dump").read_text().splitlines()
        k = rows.index(next(ln for ln in rows if ln.startswith("ITEM: ATOMS")))
        f = np.array([[float(v) for v in ln.split()] for ln in rows[k + 1:k + 1 + n]])
    f = f[np.argsort(f[:, 0])][:, 1:]
    return energy, f


# -- the system contract ------------------------------------------------------------------------------

@register
class MWWater(MolecularFluid):
    """mW water as a system: the reference MD runs the bead fluid itself (identity CG map: one "atom"
    O per molecule; the mapped forces are the exact mW forces). Starts on a jittered simple-cubic
    lattice; the workflow's minimisation and equilibration melt it (mW melts at 274.6 K)."""

    name = "mw_water"
    central_element = "O"
    config_schema = {
        "required": ["md", "first_shell_A"],
        "properties": {
            "first_shell_A": POS,
            "md": {"type": "object", "additionalProperties": False,
                   "required": ["n_molecules", "timestep_fs", "save_interval_ps", "equilibration_ps", "production_ps"],
                   "properties": {"n_molecules": {"type": "integer", "minimum": 8},
                                  "density_g_cm3": {**POS, "default": 1.0},
                                  "timestep_fs": POS, "save_interval_ps": POS, "equilibration_ps": NONNEG,
                                  "production_ps": POS}},
        },
    }

    def label(self, cfg: dict) -> str:
        return "mW water (Stillinger–Weber ground truth)"

    def box_A(self, cfg: dict) -> np.ndarray:
        md = cfg["md"]
        return np.full(3, box_edge_A(int(md["n_molecules"]), float(md.get("density_g_cm3", 1.0))))

    def config_errors(self, cfg: dict) -> list[tuple[str, str]]:
        errors = super().config_errors(cfg)
        L = float(self.box_A(cfg)[0])
        if L < 2.0 * CUTOFF_A:
            errors.append(("md.n_molecules", (f"box edge {L:.2f} Å is shorter than twice the mW cutoff "
                                              f"({2 * CUTOFF_A:.3f} Å)")))
        return errors

    def truth_model(self, cfg: dict, n_beads: int | None = None, box=None) -> MWModel:
        """mW of ``n_beads`` (default ``md.n_molecules``) in the cubic box of edge ``box[0]`` (Å; default
        the config's box): the truth of :mod:`cgexplain.analysis.truth`."""
        n = int(cfg["md"]["n_molecules"]) if n_beads is None else int(n_beads)
        L = float(self.box_A(cfg)[0] if box is None else np.asarray(box, np.float64).reshape(-1)[0])
        return MWModel(n, L)

    def build(self, cfg: dict, replica: int, seed: int, source=None):
        from openmm import unit

        n = int(cfg["md"]["n_molecules"])
        L = float(self.box_A(cfg)[0])
        x = lattice_positions(n, L, np.random.default_rng(int(seed) + 1000 * int(replica)))
        return topology(n, L), openmm_system(n, L), x * 0.1 * unit.nanometer
