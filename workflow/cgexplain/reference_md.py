"""All-atom reference MD with OpenMM (methane, water) and its trajectory file.

Output ``trajectory.h5`` (HDF5; written under a temporary name and renamed when complete):

=============  ======================  ===============================================
dataset        shape                   meaning
=============  ======================  ===============================================
coords         (F, n_atoms, 3) f4      positions in Å (unwrapped, as OpenMM integrates)
forces         (F, n_atoms, 3) f4      force-field forces in kcal/mol/Å (no constraint forces)
box            (F, 3) f4               orthorhombic box lengths in Å
time_ps        (F,) f8                 simulation time of the frame in ps (production only)
masses         (n_atoms,) f8           atomic masses in amu
molecule       (n_atoms,) i8           molecule (residue) index of each atom
bead_atom      (n_molecules,) i8       index of each molecule's central (mapped) atom: C or O
elements       (n_atoms,) S2           element symbols
=============  ======================  ===============================================

Attributes: system, temperature_K, friction_per_ps, timestep_fs, save_interval_ps, platform.

Resuming: the production run writes ``<out>.partial`` and an OpenMM checkpoint (whose step count says
how many frames it covers) under ``<out dir>/work/``; a rerun continues from the last checkpoint and
drops frames written after it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import openmm
from openmm import app, unit

KJ_PER_NM_TO_KCAL_PER_A = 1.0 / 41.84
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
METHANE_FF = RESOURCES / "forcefields" / "methane_oplsaa.xml"
TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) / math.sqrt(3.0)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def build_methane(cfg: dict, seed: int, forcefield_xml: Path = METHANE_FF):
    """125 (``n_molecules``) OPLS-AA methanes on a jittered lattice in the orthorhombic box."""
    n = int(cfg["n_molecules"])
    box_nm = np.asarray(cfg["box_A"], dtype=float) / 10.0
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
        top, nonbondedMethod=app.PME, nonbondedCutoff=float(cfg["nonbonded_cutoff_nm"]) * unit.nanometer,
        constraints=app.HBonds,
    )
    return top, system, np.asarray(pos) * unit.nanometer


def build_water(cfg: dict, seed: int):
    """openmmtools ``WaterBox`` (TIP3P, rigid, PME)."""
    from openmmtools.testsystems import WaterBox

    wb = WaterBox(box_edge=float(cfg["box_edge_nm"]) * unit.nanometer,
                  cutoff=float(cfg["nonbonded_cutoff_nm"]) * unit.nanometer, model="tip3p")
    return wb.topology, wb.system, wb.positions


MD_KEYS = ("temperature_K", "friction_per_ps", "timestep_fs", "save_interval_ps", "equilibration_ps",
           "production_ps", "checkpoint_interval_ps", "report_interval_ps", "nonbonded_cutoff_nm", "seed")
BUILDERS = {"methane": build_methane, "water": build_water}
CENTRAL_ELEMENT = {"methane": "C", "water": "O"}


def pick_platform(name: str, threads: int | None):
    names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    if name == "auto":
        name = next((p for p in ("CUDA", "OpenCL", "CPU") if p in names), "Reference")
        if name in ("CUDA", "OpenCL"):
            try:  # a node may list CUDA without a usable GPU (e.g. CUDA_VISIBLE_DEVICES unset)
                ctx = openmm.Context(openmm.System(), openmm.VerletIntegrator(1.0), openmm.Platform.getPlatformByName(name))
                del ctx
            except Exception:  # noqa: BLE001
                name = "CPU"
    if name not in names:
        raise ValueError(f"OpenMM platform {name!r} is not available here; available: {names}")
    props = {}
    if name == "CPU" and threads:
        props["Threads"] = str(threads)
    if name == "CUDA":
        props["Precision"] = "mixed"
    return openmm.Platform.getPlatformByName(name), props


def make_simulation(system_name: str, sys_cfg: dict, md_cfg: dict, seed: int, threads: int | None):
    top, system, positions = BUILDERS[system_name](sys_cfg, seed)
    integ = openmm.LangevinMiddleIntegrator(
        float(md_cfg["temperature_K"]) * unit.kelvin,
        float(md_cfg["friction_per_ps"]) / unit.picosecond,
        float(sys_cfg["timestep_fs"]) * unit.femtosecond,
    )
    integ.setRandomNumberSeed(seed)
    platform, props = pick_platform(md_cfg.get("platform", "auto"), threads)
    sim = app.Simulation(top, system, integ, platform, props)
    sim.context.setPositions(positions)
    return sim


def _frame(sim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    st = sim.context.getState(getPositions=True, getForces=True)
    x = st.getPositions(asNumpy=True).value_in_unit(unit.nanometer) * 10.0
    f = st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer) * KJ_PER_NM_TO_KCAL_PER_A
    b = np.diag(st.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)) * 10.0
    return x.astype(np.float32), f.astype(np.float32), b.astype(np.float32)


def _atom_tables(sim, system_name: str):
    top = sim.topology
    atoms = list(top.atoms())
    masses = np.array([sim.system.getParticleMass(a.index).value_in_unit(unit.dalton) for a in atoms])
    molecule = np.array([a.residue.index for a in atoms], dtype=np.int64)
    elements = np.array([a.element.symbol for a in atoms], dtype="S2")
    central = CENTRAL_ELEMENT[system_name]
    bead_atom = np.array([next(a.index for a in r.atoms() if a.element.symbol == central)
                          for r in top.residues()], dtype=np.int64)
    return masses, molecule, elements, bead_atom


def _create_h5(path: Path, n_atoms: int, tables, attrs: dict) -> h5py.File:
    masses, molecule, elements, bead_atom = tables
    h5 = h5py.File(path, "w")
    for name, shape, dt in (("coords", (n_atoms, 3), "f4"), ("forces", (n_atoms, 3), "f4"),
                            ("box", (3,), "f4"), ("time_ps", (), "f8")):
        h5.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dt,
                          chunks=(64, *shape))
    h5["masses"], h5["molecule"], h5["elements"], h5["bead_atom"] = masses, molecule, elements, bead_atom
    h5.attrs.update(attrs)
    return h5


def run_reference_md(system_name: str, sys_cfg: dict, md_cfg: dict, out: Path, seed: int,
                     threads: int | None = None) -> dict:
    """Equilibrate, then produce frames every ``save_interval_ps``; resumable. Returns timing info."""
    out = Path(out)
    if system_name not in BUILDERS:
        raise ValueError(f"unknown system {system_name!r}; expected one of {sorted(BUILDERS)}")
    work = out.parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    ckpt = work / "production.chk"

    dt_ps = float(sys_cfg["timestep_fs"]) / 1000.0
    steps_per_frame = max(1, round(float(sys_cfg["save_interval_ps"]) / dt_ps))
    n_frames = int(round(float(sys_cfg["production_ps"]) / (steps_per_frame * dt_ps)))
    frames_per_ckpt = max(1, round(float(md_cfg["checkpoint_interval_ps"]) / (steps_per_frame * dt_ps)))
    frames_per_report = max(1, round(float(md_cfg["report_interval_ps"]) / (steps_per_frame * dt_ps)))
    if n_frames < 1:
        raise ValueError(f"md.{system_name}.production_ps={sys_cfg['production_ps']} gives no frame "
                         f"at save_interval_ps={sys_cfg['save_interval_ps']}")

    sim = make_simulation(system_name, sys_cfg, md_cfg, seed, threads)
    platform = sim.context.getPlatform().getName()
    tables = _atom_tables(sim, system_name)
    attrs = dict(system=system_name, temperature_K=float(md_cfg["temperature_K"]),
                 friction_per_ps=float(md_cfg["friction_per_ps"]), timestep_fs=float(sys_cfg["timestep_fs"]),
                 save_interval_ps=steps_per_frame * dt_ps, platform=platform)
    done = 0
    if ckpt.exists() and partial.exists():
        sim.loadCheckpoint(str(ckpt))
        # the checkpoint carries its own step count (zeroed after equilibration): no separate note
        # that a kill between two writes could leave out of step with it
        done = int(sim.currentStep) // steps_per_frame
        h5 = h5py.File(partial, "a")
        for k in ("coords", "forces", "box", "time_ps"):
            h5[k].resize(done, axis=0)
        log(f"resuming {system_name} production from frame {done}/{n_frames} ({platform})")
    else:
        log(f"{system_name}: {sim.system.getNumParticles()} atoms on {platform}; minimising")
        sim.minimizeEnergy(maxIterations=1000)
        sim.context.setVelocitiesToTemperature(float(md_cfg["temperature_K"]) * unit.kelvin, seed)
        n_eq = int(round(float(sys_cfg["equilibration_ps"]) / dt_ps))
        log(f"equilibrating {n_eq} steps ({sys_cfg['equilibration_ps']} ps)")
        sim.step(n_eq)
        sim.currentStep = 0
        h5 = _create_h5(partial, sim.system.getNumParticles(), tables, attrs)

    t0, start = time.perf_counter(), done
    try:
        for k in range(done, n_frames):
            sim.step(steps_per_frame)
            x, f, b = _frame(sim)
            if not (np.isfinite(x).all() and np.isfinite(f).all()):
                raise FloatingPointError(f"non-finite positions or forces at production frame {k}")
            for name, val in (("coords", x), ("forces", f), ("box", b), ("time_ps", (k + 1) * steps_per_frame * dt_ps)):
                ds = h5[name]
                ds.resize(k + 1, axis=0)
                ds[k] = val
            if (k + 1) % frames_per_ckpt == 0 or k + 1 == n_frames:
                h5.flush()
                sim.saveCheckpoint(str(ckpt) + ".tmp")
                Path(str(ckpt) + ".tmp").replace(ckpt)
            if (k + 1) % frames_per_report == 0 or k + 1 == n_frames:
                el = time.perf_counter() - t0
                ns_day = (k + 1 - start) * steps_per_frame * dt_ps / 1000.0 / max(el, 1e-9) * 86400.0
                log(f"frame {k + 1}/{n_frames}  {ns_day:.1f} ns/day")
    finally:
        h5.close()
    elapsed = time.perf_counter() - t0
    partial.replace(out)
    ckpt.unlink(missing_ok=True)
    ns = (n_frames - start) * steps_per_frame * dt_ps / 1000.0
    return {"frames": n_frames, "seconds": elapsed, "ns_per_day": ns / max(elapsed, 1e-9) * 86400.0,
            "platform": platform}


def main(argv: list[str] | None = None) -> int:
    from .config import load_params

    ap = argparse.ArgumentParser(prog="cgexplain md", description=__doc__.splitlines()[0])
    ap.add_argument("--system", required=True, choices=sorted(BUILDERS))
    ap.add_argument("--params", required=True,
                    help="JSON object (or YAML/JSON file): the md section's common keys merged with md.<system>, plus seed")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    p = load_params(args.params, required=MD_KEYS, what="md params")
    info = run_reference_md(args.system, p, p, args.out, int(p["seed"]), args.threads)
    log(f"done: {info}")
    return 0
