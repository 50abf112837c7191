"""All-atom reference MD with OpenMM for any system of :mod:`cgexplain.systems`, and its trajectory file.

The system module builds the OpenMM system (:meth:`~cgexplain.systems.System.build`) and may prepare
each replica (e.g. unfold it at high temperature); this module minimises, equilibrates and runs the
resumable production loop, the same for every system. One file per replica.

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
how many frames it covers) under ``<out dir>/work/<out stem>/``; a rerun continues from the last checkpoint and
drops frames written after it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import openmm
from openmm import app, unit

from ..core.device import openmm_platform_problem
from ..core.runtime import JobBudget, add_chain_arguments, claim_work, fingerprint, log, release_work, write_status
from ..systems import System, get_system

KJ_PER_NM_TO_KCAL_PER_A = 1.0 / 41.84
MOLAR_GAS_KJ = 0.00831446261815324  # kJ/mol/K




MD_KEYS = ("friction_per_ps", "platform", "timestep_fs", "save_interval_ps", "equilibration_ps",
           "production_ps", "checkpoint_interval_ps", "report_interval_ps", "temperature_band")


class MDError(RuntimeError):
    """The reference MD left physical bounds (non-finite values, kinetic temperature out of band)."""


def degrees_of_freedom(omm_system) -> int:
    """3 × (particles with mass) − constraints − 3 when the centre-of-mass motion is removed."""
    n = sum(1 for i in range(omm_system.getNumParticles())
            if omm_system.getParticleMass(i).value_in_unit(unit.dalton) > 0)
    com = any(isinstance(f, openmm.CMMotionRemover) for f in omm_system.getForces())
    return 3 * n - omm_system.getNumConstraints() - (3 if com else 0)


def pick_platform(name: str, threads: int | None, reproducible: bool = True):
    """OpenMM platform and its properties (each only where the platform has it).

    ``auto``: the first usable of CUDA, OpenCL, CPU (a node may list CUDA without a usable GPU); the
    reason each faster platform was passed over is logged. ``reproducible``: forces accumulated in fixed
    point (``DeterministicForces``, CPU and CUDA; OpenCL has no such property and is logged as not
    reproducible) and, on the CPU, one thread (OpenMM's CPU Langevin integrator draws its random
    numbers per thread, so two threads give different trajectories from the same seed): the same seed
    on the same platform then gives the same trajectory, bit for bit.
    """
    names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    if name == "auto":
        passed = []
        for cand in ("CUDA", "OpenCL"):
            why = ("not installed" + (" (pip: openmm[cuda12])" if cand == "CUDA" else "")) if cand not in names \
                else openmm_platform_problem(cand)
            if why is None:
                name = cand
                break
            passed.append(f"{cand}: {why}")
        else:
            name = "CPU" if "CPU" in names else "Reference"
        if passed and name in ("CPU", "Reference", "OpenCL"):
            log(f"platform auto -> {name} ({'; '.join(passed)})", "md")
    if name not in names:
        raise ValueError(f"OpenMM platform {name!r} is not available here; available: {names}")
    platform = openmm.Platform.getPlatformByName(name)
    has = set(platform.getPropertyNames())
    props = {}
    if "Precision" in has:
        props["Precision"] = "mixed"
    if reproducible and "DeterministicForces" in has:
        props["DeterministicForces"] = "true"
    if "Threads" in has:
        if reproducible:
            props["Threads"] = "1"
        elif threads:
            props["Threads"] = str(threads)
    if reproducible and "DeterministicForces" not in has and name != "Reference":
        log(f"platform {name} has no DeterministicForces: reruns from one seed may differ in the last bits", "md")
    return platform, props


def make_simulation(system: System, cfg: dict, seed: int, threads: int | None, replica: int = 0,
                    source: Path | None = None, platform=None):
    """OpenMM ``Simulation`` of one replica; ``cfg`` is the system's block with ``md`` complete."""
    md = cfg["md"]
    top, omm_system, positions = system.build(cfg, replica, seed, source)
    integ = openmm.LangevinMiddleIntegrator(
        float(cfg["temperature_K"]) * unit.kelvin,
        float(md["friction_per_ps"]) / unit.picosecond,
        float(md["timestep_fs"]) * unit.femtosecond,
    )
    integ.setRandomNumberSeed(seed)
    if platform is None:
        platform = pick_platform(md.get("platform", "auto"), threads, bool(md.get("reproducible", True)))
    sim = app.Simulation(top, omm_system, integ, *platform)
    sim.context.setPositions(positions)
    return sim


def _frame(sim, periodic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Positions (Å), forces (kcal/mol/Å), box (Å) and kinetic energy (kJ/mol) of the current state."""
    st = sim.context.getState(getPositions=True, getForces=True, getEnergy=True)
    x = st.getPositions(asNumpy=True).value_in_unit(unit.nanometer) * 10.0
    f = st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer) * KJ_PER_NM_TO_KCAL_PER_A
    b = (np.diag(st.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)) * 10.0 if periodic
         else np.zeros(3))
    ekin = st.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole)
    return x.astype(np.float32), f.astype(np.float32), b.astype(np.float32), ekin


def _atom_tables(sim) -> dict[str, np.ndarray]:
    top = sim.topology
    atoms = list(top.atoms())
    return {
        "masses": np.array([sim.system.getParticleMass(a.index).value_in_unit(unit.dalton) for a in atoms]),
        "molecule": np.array([a.residue.index for a in atoms], dtype=np.int64),
        "elements": np.array([a.element.symbol for a in atoms], dtype="S2"),
        "atom_names": np.array([a.name for a in atoms], dtype="S4"),
        "residue_names": np.array([a.residue.name for a in atoms], dtype="S4"),
        "bonds": np.array([[b[0].index, b[1].index] for b in top.bonds()], dtype=np.int64).reshape(-1, 2),
    }


def _create_h5(path: Path, n_atoms: int, tables: dict, attrs: dict) -> h5py.File:
    h5 = h5py.File(path, "w")
    for name, shape, dt in (("coords", (n_atoms, 3), "f4"), ("forces", (n_atoms, 3), "f4"),
                            ("box", (3,), "f4"), ("time_ps", (), "f8")):
        h5.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dt,
                          chunks=(64, *shape))
    for k, v in tables.items():
        h5[k] = v
    h5.attrs.update(attrs)
    return h5


def run_reference_md(system: System | str, cfg: dict, out: Path, seed: int, threads: int | None = None,
                     replica: int = 0, source: Path | None = None, max_seconds: float | None = None) -> dict:
    """Equilibrate, then produce frames every ``save_interval_ps``; resumable. Returns timing info.

    ``cfg`` is the system's config block whose ``md`` holds :data:`MD_KEYS` (the common ``md`` keys
    merged under the system's own) and which has ``temperature_K``. Replica ``k`` uses seed
    ``seed + k``. With ``max_seconds`` (one job of a chain) the run stops at the first checkpoint
    after which another checkpoint interval would overrun it and returns ``complete`` False; the
    next call resumes there.
    """
    system = get_system(system) if isinstance(system, str) else system
    out = Path(out)
    md = cfg["md"]
    missing = [k for k in MD_KEYS if k not in md] + ([] if "temperature_K" in cfg else ["temperature_K"])
    if missing:
        raise ValueError(f"md params of {system.name}: missing key(s) {', '.join(missing)}")
    seed = int(seed) + int(replica)
    work = out.parent / "work" / out.stem
    partial = out.with_name(out.name + ".partial")
    failed = out.with_name(out.stem + ".failed" + out.suffix)
    ckpt = work / "production.chk"
    platform = pick_platform(md.get("platform", "auto"), threads, bool(md.get("reproducible", True)))
    # an OpenMM checkpoint is only loadable on the platform that wrote it: the platform is in the fingerprint
    fp = fingerprint({"system": system.name, "block": cfg, "seed": seed, "replica": int(replica),
                      "platform": platform[0].getName()}, [] if source is None else [source])
    resume = claim_work(work, fp, f"reference MD of {system.name} replica {replica}", also=[partial])

    dt_ps = float(md["timestep_fs"]) / 1000.0
    steps_per_frame = max(1, round(float(md["save_interval_ps"]) / dt_ps))
    n_frames = int(round(float(md["production_ps"]) / (steps_per_frame * dt_ps)))
    frames_per_ckpt = max(1, round(float(md["checkpoint_interval_ps"]) / (steps_per_frame * dt_ps)))
    frames_per_report = max(1, round(float(md["report_interval_ps"]) / (steps_per_frame * dt_ps)))
    if n_frames < 1:
        raise ValueError(f"systems.{system.name}.md.production_ps={md['production_ps']} gives no frame "
                         f"at save_interval_ps={md['save_interval_ps']}")

    sim = make_simulation(system, cfg, seed, threads, replica, source, platform)
    plat = sim.context.getPlatform()
    platform = plat.getName()
    log(f"{system.name} replica {replica}: OpenMM platform {platform} ("
        + ", ".join(f"{k} {plat.getPropertyValue(sim.context, k)}" for k in plat.getPropertyNames()) + ")", "md")
    T = float(cfg["temperature_K"])
    t_low, t_high = (float(v) * T for v in md["temperature_band"])
    dof = degrees_of_freedom(sim.system)
    attrs = dict(system=system.name, replica=int(replica), periodic=bool(system.periodic), temperature_K=T,
                 friction_per_ps=float(md["friction_per_ps"]), timestep_fs=float(md["timestep_fs"]),
                 save_interval_ps=steps_per_frame * dt_ps, platform=platform, fingerprint=fp)
    done = 0
    if resume and ckpt.exists() and partial.exists():
        sim.loadCheckpoint(str(ckpt))
        # the checkpoint carries its own step count (zeroed after equilibration): no separate note
        # that a kill between two writes could leave out of step with it
        done = int(sim.currentStep) // steps_per_frame
        h5 = h5py.File(partial, "a")
        for k in ("coords", "forces", "box", "time_ps"):
            h5[k].resize(done, axis=0)
        log(f"resuming {system.name} replica {replica} production from frame {done}/{n_frames} ({platform})")
    else:
        partial.unlink(missing_ok=True)
        log(f"{system.name} replica {replica}: {sim.system.getNumParticles()} atoms on {platform}; minimising")
        sim.minimizeEnergy(maxIterations=1000)
        sim.context.setVelocitiesToTemperature(T * unit.kelvin, seed)
        system.prepare_replica(sim, cfg, replica, seed)
        n_eq = int(round(float(md["equilibration_ps"]) / dt_ps))
        log(f"equilibrating {n_eq} steps ({md['equilibration_ps']} ps)")
        sim.step(n_eq)
        sim.currentStep = 0
        h5 = _create_h5(partial, sim.system.getNumParticles(), _atom_tables(sim), attrs)

    t0, start = time.perf_counter(), done
    budget = JobBudget(max_seconds)
    try:
        for k in range(done, n_frames):
            sim.step(steps_per_frame)
            x, f, b, ekin = _frame(sim, system.periodic)
            t_kin = 2.0 * ekin / (dof * MOLAR_GAS_KJ)
            if not (np.isfinite(x).all() and np.isfinite(f).all()):
                raise MDError(f"{system.name} replica {replica}: non-finite positions or forces at production "
                              f"frame {k + 1}")
            if not t_low <= t_kin <= t_high:
                raise MDError(f"{system.name} replica {replica}: kinetic temperature {t_kin:.4g} K at production "
                              f"frame {k + 1} is outside [{t_low:g}, {t_high:g}] K (md.temperature_band "
                              f"{list(md['temperature_band'])} × {T:g} K)")
            for name, val in (("coords", x), ("forces", f), ("box", b), ("time_ps", (k + 1) * steps_per_frame * dt_ps)):
                ds = h5[name]
                ds.resize(k + 1, axis=0)
                ds[k] = val
            if (k + 1) % frames_per_ckpt == 0 or k + 1 == n_frames:
                h5.flush()
                sim.saveCheckpoint(str(ckpt) + ".tmp")
                Path(str(ckpt) + ".tmp").replace(ckpt)
                # continue from the checkpoint just written in a reinitialised context, exactly as a
                # resumed run (or the next job of a chain) does in its new one: an interrupted run
                # then gives the same frames, bit for bit, as an uninterrupted one
                sim.context.reinitialize(preserveState=True)
                sim.loadCheckpoint(str(ckpt))
                if k + 1 < n_frames and budget.spent():
                    log(f"job time nearly used: stopping at frame {k + 1}/{n_frames}; the next job resumes here")
                    return {"complete": False, "frames": k + 1, "of": n_frames, "platform": platform}
            if (k + 1) % frames_per_report == 0 or k + 1 == n_frames:
                el = time.perf_counter() - t0
                ns_day = (k + 1 - start) * steps_per_frame * dt_ps / 1000.0 / max(el, 1e-9) * 86400.0
                log(f"frame {k + 1}/{n_frames}  T_kin {t_kin:.1f} K  {ns_day:.1f} ns/day")
    except MDError:
        h5.close()
        partial.replace(failed)
        release_work(work)
        log(f"the {k} frames before it are in {failed}")
        raise
    finally:
        if h5.id.valid:
            h5.close()
    elapsed = time.perf_counter() - t0
    partial.replace(out)
    failed.unlink(missing_ok=True)
    release_work(work)
    ns = (n_frames - start) * steps_per_frame * dt_ps / 1000.0
    return {"complete": True, "frames": n_frames, "seconds": elapsed, "ns_per_day": ns / max(elapsed, 1e-9) * 86400.0,
            "platform": platform}


def main(argv: list[str] | None = None) -> int:
    from ..core.config import load_params

    ap = argparse.ArgumentParser(prog="cgexplain md", description=__doc__.splitlines()[0])
    ap.add_argument("--system", required=True, help="registered system (cgexplain.systems) or a dotted module path")
    ap.add_argument("--params", required=True,
                    help="JSON object (or YAML/JSON file): the system's config block with md complete, plus seed")
    ap.add_argument("--replica", type=int, default=0)
    ap.add_argument("--source", type=Path, default=None, help="folder of fetched inputs, if the system needs one")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=None)
    add_chain_arguments(ap)
    args = ap.parse_args(argv)
    p = load_params(args.params, required=("md", "temperature_K", "seed"), what="md params")
    try:
        info = run_reference_md(args.system, p, args.out, int(p["seed"]), args.threads, args.replica, args.source,
                                args.max_seconds)
        write_status(args.status, **info)
    except (MDError, ValueError, FileNotFoundError) as exc:
        print(f"cgexplain md: error: {exc}", file=sys.stderr)
        return 2
    log(f"done: {info}")
    return 0
