"""IMC baseline: a pair potential fitted to the CG RDF with VOTCA-CSG (``csg_inverse``) + LAMMPS.

``cgexplain imc``      target RDF from the CG dataset → VOTCA work dir → iterations → final table
``cgexplain imc-sim``  production CG LAMMPS run with the final table → ``trajectory.npz``

Work directory (``--workdir``, e.g. ``results/{system}/imc/``):
  ``CG-CG.dist.tgt``   target RDF, VOTCA format ``r[nm] g flag`` on the grid min:step:max
  ``settings.xml``, ``imc.in``, ``conf.data``   filled from ``resources/votca/*`` templates
  ``step_NNN/``        VOTCA iterations (re-running continues from the finished ones)
  ``imc_progress.tsv`` iteration, RMS(g_target − g_iteration), wall seconds

Outputs of ``cgexplain imc``:
  ``--out-table`` LAMMPS ``pair_style table`` file, section keyword ``IMC``, units real
      (r [Å], U [kcal/mol], F = −dU/dr [kcal/mol/Å]), shifted to U(r_cut) = 0
  ``--out-npz``   ``r_A``, ``U_kcal``, ``F_kcal_A`` (the same table), ``r_nm``, ``U_kJ`` (VOTCA's
      final potential), ``rdf_r_nm``, ``rdf_target``, ``rdf_iterations`` (I, n_grid),
      ``rms`` (I,), ``converged`` (bool), ``tolerance``, ``temperature_K``, ``seconds`` (I,)

Output of ``cgexplain imc-sim`` (same contract as the NNP CG simulations):
  ``trajectory.npz``: ``coords`` (1, F, N, 3) float32 Å, ``box`` (3,) Å, ``z`` (N,), ``masses`` (N,),
  ``dt_fs``, ``save_interval``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..core.runtime import add_chain_arguments, log, write_status
from ..data.dataset import load_dataset
from ..data.sampling import evenly_spaced
from . import imc_io as io

BEAD = "CG-CG"


def _mpi_env(threads: int) -> dict:
    """Environment for LAMMPS (``lmp``, also run by ``csg_inverse``): ``OMP_NUM_THREADS`` and, under Slurm,
    no ``SLURM_STEP_ID``. Snakemake's Slurm executor runs every rule inside a job step (``srun -n1``);
    Debian's LAMMPS is built on OpenMPI 4 without Slurm PMI support, whose ``MPI_Init`` sees
    ``SLURM_STEP_ID``, takes the process for an srun-launched rank and aborts ("OMPI was not built with
    SLURM's PMI support"). Without that one variable it starts as a single-rank singleton (measured on
    slurm-wlm 22.05 + OpenMPI 4.1.4: tests/test_slurm.py); the other SLURM_* variables are harmless."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("SLURM_STEP_ID", None)
    # several ranks (mpirun) run on this node: the rule's job has them allocated (tasks=N), but the
    # job-step plugin strips SLURM_NODELIST, so OpenMPI must not read the allocation from Slurm
    env.update(OMPI_MCA_ras="^slurm", OMPI_MCA_plm="^slurm")
    if os.geteuid() == 0:  # OpenMPI's mpirun refuses root unless told (containers, CI)
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def lammps_command(ranks: int = 1) -> list[str]:
    """How LAMMPS is started: ``lmp``, or ``mpirun -np <ranks> lmp`` for several MPI ranks.

    ``mpirun``, not ``srun``: Debian's OpenMPI has no Slurm PMI support. Under Slurm the rule then asks
    for ``tasks=<ranks>`` and runs outside a job step (resource ``mpi``), so mpirun places the ranks in
    the job's allocation."""
    lmp = io.require_program("lmp")
    if int(ranks) <= 1:
        return [lmp]
    return [io.require_program("mpirun"), "-np", str(int(ranks)), lmp]


# --------------------------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------------------------

def capped_rdf_max(r_max_nm: float, step_nm: float, box_A) -> float:
    """Largest grid point ≤ r_max_nm that stays below half the smallest box edge."""
    half = 0.5 * float(np.min(box_A)) / io.NM_TO_A
    r = min(r_max_nm, half - 1e-9)
    return round(np.floor(r / step_nm + 1e-9) * step_nm, 10)


def bead_type_name(data_file: Path) -> str:
    """Bead type name VOTCA's lammpsdata reader gives the (single) atom type of ``data_file``."""
    import re

    exe = io.require_program("csg_dump")
    out = subprocess.run([exe, "--top", data_file.name], capture_output=True, text=True,
                         cwd=data_file.parent)
    m = re.search(r"\bType\s+(\S+)", out.stdout)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"csg_dump could not read {data_file}:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return m.group(1)


def prepare_workdir(workdir: Path, coords_A: np.ndarray, boxes_A: np.ndarray, mass_amu: float, *,
                    temperature_K: float, rdf_min_nm: float, rdf_max_nm: float, rdf_step_nm: float,
                    table_begin_nm: float, smoothing_scale: float, smooth_iterations: int,
                    max_iterations: int, equilibration_steps: int, steps_per_iteration: int,
                    timestep_fs: float, dump_every: int, friction_per_ps: float, seed: int,
                    regularization: float, start_frame: int = 0, template_dir=None,
                    target_g: np.ndarray | None = None, mpi_ranks: int = 1) -> dict:
    """Write the VOTCA work dir. The target RDF is computed from ``coords_A`` unless ``target_g`` is
    given on the grid ``rdf_min:step:rdf_max`` (then ``coords_A`` only provides the start frame)."""
    workdir.mkdir(parents=True, exist_ok=True)
    lmp = " ".join(lammps_command(mpi_ranks))
    io.require_program("csg_inverse")
    r_max = capped_rdf_max(rdf_max_nm, rdf_step_nm, boxes_A[start_frame])
    if r_max < rdf_max_nm - 1e-9:
        log(f"rdf_max {rdf_max_nm} nm capped to {r_max} nm (half the smallest box edge)")
    grid = io.votca_grid(rdf_min_nm, r_max, rdf_step_nm)
    if target_g is None:
        t0 = time.time()
        target_g = io.rdf_on_grid(coords_A, boxes_A, grid)
        log(f"target RDF from {len(coords_A)} frames in {time.time() - t0:.1f} s, "
            f"max g = {target_g.max():.3f} at {grid[np.argmax(target_g)]:.3f} nm")
    target_g = np.asarray(target_g, float)
    if len(target_g) != len(grid):
        raise ValueError(f"target has {len(target_g)} points, grid has {len(grid)}")
    io.write_votca_table(workdir / f"{BEAD}.dist.tgt", grid, target_g, comment="target RDF r[nm] g(r)")
    io.write_lammps_data(workdir / "conf.data", coords_A[start_frame], boxes_A[start_frame], mass_amu)
    bead = bead_type_name(workdir / "conf.data")
    values = {
        "BEAD_TYPE": bead, "RDF_MIN_NM": f"{rdf_min_nm:g}", "RDF_MAX_NM": f"{r_max:g}",
        "RDF_STEP_NM": f"{rdf_step_nm:g}", "SCALE": f"{smoothing_scale:g}",
        "SMOOTH_ITERATIONS": int(smooth_iterations), "TABLE_BEGIN_NM": f"{table_begin_nm:g}",
        "TABLE_BINS_NM": f"{rdf_step_nm / 5:g}", "KBT_KJMOL": f"{io.KB_KJ_PER_MOL_K * temperature_K:.6f}",
        "REGULARIZATION": f"{regularization:g}", "LMP": lmp, "MAX_ITERATIONS": int(max_iterations),
    }
    settings = io.fill_template(io.read_template("settings.xml.in", template_dir), values)
    (workdir / "settings.xml").write_text(settings)
    lmp_values = {
        "TABLE_POINTS": 2000, "CUTOFF_A": f"{r_max * io.NM_TO_A:g}", "TEMPERATURE_K": f"{temperature_K:g}",
        "SEED": int(seed) % 900_000_000 + 1, "TIMESTEP_FS": f"{timestep_fs:g}",
        "DAMP_FS": f"{1000.0 / friction_per_ps:g}", "THERMO_EVERY": max(1, steps_per_iteration // 10),
        "EQUILIBRATION_STEPS": int(equilibration_steps), "DUMP_EVERY": int(dump_every),
        "PRODUCTION_STEPS": int(steps_per_iteration),
    }
    (workdir / "imc.in").write_text(io.fill_template(io.read_template("imc.in", template_dir), lmp_values))
    _invalidate_stale_steps(workdir)
    return {"grid": grid, "target": target_g, "r_max_nm": r_max, "bead": bead}


def _invalidate_stale_steps(workdir: Path) -> None:
    """Remove earlier iterations when anything that determines them changed (settings, LAMMPS input,
    start configuration, target RDF, package version); otherwise keep them so that a re-run continues
    from the finished steps. Writes the attempt's log header (fresh or resumed)."""
    import shutil

    from ..core.runtime import fingerprint, header

    digest = fingerprint({}, [workdir / name for name in ("settings.xml", "imc.in", "conf.data", f"{BEAD}.dist.tgt")])
    stamp = workdir / "inputs.sha256"
    old = stamp.read_text().strip() if stamp.exists() else None
    steps = sorted(workdir.glob("step_[0-9][0-9][0-9]"))
    if old == digest:
        header(f"resumed (IMC: {len(finished_steps(workdir))} finished iteration(s) in {workdir}, fingerprint {digest})")
        return
    if steps:
        header(f"fresh (IMC: discarded {len(steps)} iteration(s) made by a different configuration)")
        log(f"inputs changed since the last run (fingerprint {old}, now {digest}): removing {len(steps)} old "
            f"iteration(s) in {workdir}")
        for s in steps:
            shutil.rmtree(s)
        for name in ("inverse.log", "imc_progress.tsv", "csg_inverse.out"):
            (workdir / name).unlink(missing_ok=True)
    else:
        header("fresh (IMC)")
    stamp.write_text(digest + "\n")


# --------------------------------------------------------------------------------------------
# Iterations
# --------------------------------------------------------------------------------------------

def finished_steps(workdir: Path) -> list[Path]:
    """VOTCA step dirs (step_001, ...) that are finished and hold an RDF of their run."""
    steps = sorted(p for p in workdir.glob("step_[0-9][0-9][0-9]") if p.is_dir())
    return [p for p in steps if p.name != "step_000" and (p / "done").exists()
            and (p / f"{BEAD}.dist.new").exists()]


def step_rms(step: Path, grid: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    r, g, _ = io.read_votca_table(step / f"{BEAD}.dist.new")
    g_grid = np.interp(grid, r, g)
    return io.rms(g_grid, target), g_grid


def run_iterations(workdir: Path, grid: np.ndarray, target: np.ndarray, max_iterations: int,
                   tolerance: float, threads: int = 1, max_seconds: float | None = None) -> dict | None:
    """Call ``csg_inverse --do-iterations 1`` until RMS Δg < tolerance or ``max_iterations`` runs.

    With ``max_seconds`` (one job of a chain) stop after the iteration past which another would
    overrun it and return None; a rerun continues from the finished steps."""
    from ..core.runtime import JobBudget

    budget = JobBudget(max_seconds)
    exe = io.require_program("csg_inverse")
    env = _mpi_env(threads)
    progress = workdir / "imc_progress.tsv"
    seconds: dict[str, float] = {}
    if progress.exists():
        for line in progress.read_text().splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) >= 3:
                seconds[parts[0]] = float(parts[2])
    earlier = len(finished_steps(workdir))  # iterations of earlier jobs: this job checks its time only after one
    while True:
        done = finished_steps(workdir)
        rms_list = [step_rms(s, grid, target)[0] for s in done]
        if rms_list and rms_list[-1] < tolerance:
            log(f"converged: RMS Δg {rms_list[-1]:.4f} < {tolerance} after {len(done)} iterations")
            break
        if len(done) >= max_iterations:
            log(f"stopped at max_iterations = {max_iterations} (last RMS Δg "
                f"{rms_list[-1] if rms_list else float('nan'):.4f})")
            break
        if len(done) > earlier and budget.spent():
            log(f"job time nearly used: stopping after {len(done)} iteration(s); the next job resumes here")
            return None
        t0 = time.time()
        cmd = [exe, "--options", "settings.xml", "--do-iterations", "1"]
        with open(workdir / "csg_inverse.out", "a") as out:
            rc = subprocess.run(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
        if rc != 0:
            tail = (workdir / "csg_inverse.out").read_text()[-3000:]
            raise RuntimeError(f"csg_inverse failed (exit {rc}) in {workdir}; last output:\n{tail}")
        new = finished_steps(workdir)
        if len(new) <= len(done):  # the first call also runs step_000 (initial guess)
            raise RuntimeError(f"csg_inverse made no progress in {workdir}")
        dt = time.time() - t0
        for s in new[len(done):]:
            seconds[s.name] = dt / (len(new) - len(done))
            r = step_rms(s, grid, target)[0]
            log(f"{s.name}: RMS Δg = {r:.4f} ({seconds[s.name]:.1f} s)")
        with open(progress, "w") as fh:
            fh.write("step\trms_dg\tseconds\n")
            for s in new:
                fh.write(f"{s.name}\t{step_rms(s, grid, target)[0]:.6g}\t{seconds.get(s.name, float('nan')):.3f}\n")
    done = finished_steps(workdir)
    rdfs = [step_rms(s, grid, target) for s in done]
    return {
        "steps": done,
        "rms": np.array([r for r, _ in rdfs]),
        "rdfs": np.array([g for _, g in rdfs]) if rdfs else np.zeros((0, len(grid))),
        "seconds": np.array([seconds.get(s.name, np.nan) for s in done]),
        "converged": bool(rdfs and rdfs[-1][0] < tolerance),
    }


def final_potential(workdir: Path, steps: list[Path]) -> Path:
    """The updated potential of the last finished iteration (``step_NNN/CG-CG.pot.new``)."""
    for s in reversed(steps):
        p = s / f"{BEAD}.pot.new"
        if p.exists():
            return p
    raise RuntimeError(f"no {BEAD}.pot.new in {workdir}")


def export_table(pot_file: Path, table_begin_nm: float, r_cut_nm: float, out_table: Path,
                 n_points: int = 2000) -> dict:
    r_nm, U_kJ, flags = io.read_votca_table(pot_file)
    r_A, U, F = io.votca_pot_to_lammps(r_nm, U_kJ, flags, table_begin_nm, r_cut_nm, n_points)
    out_table.parent.mkdir(parents=True, exist_ok=True)
    io.write_lammps_table(out_table, r_A, U, F, keyword="IMC",
                          comment=f"IMC pair potential from {pot_file} (units real: A, kcal/mol, kcal/mol/A)")
    return {"r_A": r_A, "U_kcal": U, "F_kcal_A": F, "r_nm": r_nm, "U_kJ": U_kJ}


# --------------------------------------------------------------------------------------------
# Production
# --------------------------------------------------------------------------------------------

def run_production(table: Path, coords_A: np.ndarray, box_A, mass_amu: float, workdir: Path, *,
                   temperature_K: float, timestep_fs: float, equilibration_steps: int,
                   production_steps: int, save_interval: int, friction_per_ps: float, seed: int,
                   template_dir=None, threads: int = 1, mpi_ranks: int = 1) -> dict:
    """LAMMPS run with ``table`` (section ``IMC``): returns coords (F, N, 3) Å and box (3,) Å."""
    lmp = lammps_command(mpi_ranks)
    workdir.mkdir(parents=True, exist_ok=True)
    r_A, _, _ = io.read_lammps_table(table, "IMC")
    io.write_lammps_data(workdir / "conf.data", coords_A, box_A, mass_amu)
    values = {
        "TABLE_POINTS": 2000, "TABLE_FILE": str(Path(table).resolve()), "TABLE_KEYWORD": "IMC",
        "CUTOFF_A": f"{r_A[-1]:.10g}", "TEMPERATURE_K": f"{temperature_K:g}",
        "SEED": int(seed) % 900_000_000 + 1, "TIMESTEP_FS": f"{timestep_fs:g}",
        "DAMP_FS": f"{1000.0 / friction_per_ps:g}", "THERMO_EVERY": max(1, production_steps // 10),
        "EQUILIBRATION_STEPS": int(equilibration_steps), "DUMP_EVERY": int(save_interval),
        "PRODUCTION_STEPS": int(production_steps),
    }
    (workdir / "production.in").write_text(
        io.fill_template(io.read_template("production.in", template_dir), values))
    dump = workdir / "production.dump"
    dump.unlink(missing_ok=True)
    env = _mpi_env(threads)
    with open(workdir / "lammps.out", "w") as out:
        rc = subprocess.run([*lmp, "-in", "production.in", "-log", "log.lammps"], cwd=workdir,
                            stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        raise RuntimeError(f"lmp failed (exit {rc}); see {workdir / 'lammps.out'}:\n"
                           + (workdir / "lammps.out").read_text()[-2000:])
    coords, boxes, steps = io.read_lammps_dump(dump)
    return {"coords": coords, "box": boxes[0], "steps": steps}


def write_trajectory(path: Path, coords: np.ndarray, box, z, masses, dt_fs: float, save_interval: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, coords=np.asarray(coords, np.float32)[None], box=np.asarray(box, np.float64).reshape(3),
             z=np.asarray(z), masses=np.asarray(masses), dt_fs=float(dt_fs), save_interval=int(save_interval))
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------------------------

def _single_mass(ds: dict) -> float:
    masses = np.asarray(ds["masses"], float)
    if not np.allclose(masses, masses[0]) or len(np.unique(ds["z"])) != 1:
        raise ValueError("IMC here handles one-bead-type liquids only (all z and masses equal)")
    return float(masses[0])


def _frames_for_target(ds: dict, max_frames: int) -> np.ndarray:
    idx = np.asarray(ds.get("train_idx", np.arange(len(ds["coords"]))))
    return np.sort(idx[evenly_spaced(len(idx), max_frames)])


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="CG dataset npz (coords Å, box Å, z, masses)")
    p.add_argument("--temperature-K", type=float, default=300.0)
    p.add_argument("--timestep-fs", type=float, default=2.0)
    p.add_argument("--friction-per-ps", type=float, default=1.0, help="Langevin friction (LAMMPS damp = 1/γ)")
    p.add_argument("--equilibration-steps", type=int, default=20000)
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--templates", default=None, help="folder with settings.xml.in, imc.in, production.in")
    p.add_argument("--mpi-ranks", type=int, default=1, help="MPI ranks of LAMMPS (mpirun -np N lmp); 1: lmp alone")


def main_imc(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cgexplain imc", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--workdir", required=True, help="VOTCA work dir, e.g. results/{system}/imc")
    p.add_argument("--out-table", required=True, help="final LAMMPS table (units real)")
    p.add_argument("--out-npz", required=True, help="final table + RDF history (npz)")
    p.add_argument("--max-iterations", type=int, default=10)
    p.add_argument("--tolerance", type=float, default=0.01, help="stop when RMS(g_tgt − g) < this")
    p.add_argument("--rdf-min-nm", type=float, default=0.0)
    p.add_argument("--rdf-max-nm", type=float, default=0.9)
    p.add_argument("--rdf-step-nm", type=float, default=0.01)
    p.add_argument("--table-begin-nm", type=float, default=0.15)
    p.add_argument("--smoothing-scale", type=float, default=0.5, help="damping of the IMC update")
    p.add_argument("--smooth-iterations", type=int, default=1, help="triangular smoothings of the update")
    p.add_argument("--regularization", type=float, default=1.0, help="VOTCA cg.inverse.imc.default_reg")
    p.add_argument("--steps-per-iteration", type=int, default=100000)
    p.add_argument("--dump-every", type=int, default=0, help="0: steps_per_iteration // 500 (≥ 10)")
    p.add_argument("--max-target-frames", type=int, default=2000, help="training frames for the target RDF")
    add_chain_arguments(p)
    a = p.parse_args(argv)
    try:
        io.require_program("csg_inverse")
        io.require_program("lmp")
    except io.MissingProgramError as e:
        print(f"cgexplain imc: {e}", file=sys.stderr)
        return 3
    t_start = time.time()
    ds = load_dataset(a.dataset)
    mass = _single_mass(ds)
    idx = _frames_for_target(ds, a.max_target_frames)
    coords = np.asarray(ds["coords"], np.float64)[idx]
    boxes = np.broadcast_to(np.asarray(ds["box"], np.float64).reshape(-1, 3), (len(ds["coords"]), 3))[idx]
    dump_every = a.dump_every or max(10, a.steps_per_iteration // 500)
    workdir = Path(a.workdir)
    prep = prepare_workdir(
        workdir, coords, boxes, mass, temperature_K=a.temperature_K, rdf_min_nm=a.rdf_min_nm,
        rdf_max_nm=a.rdf_max_nm, rdf_step_nm=a.rdf_step_nm, table_begin_nm=a.table_begin_nm,
        smoothing_scale=a.smoothing_scale, smooth_iterations=a.smooth_iterations,
        max_iterations=a.max_iterations, equilibration_steps=a.equilibration_steps,
        steps_per_iteration=a.steps_per_iteration, timestep_fs=a.timestep_fs, dump_every=dump_every,
        friction_per_ps=a.friction_per_ps, seed=a.seed, regularization=a.regularization,
        template_dir=a.templates, mpi_ranks=a.mpi_ranks)
    log(f"work dir {workdir}: {len(ds['z'])} beads of type {prep['bead']}, grid 0..{prep['r_max_nm']} nm")
    res = run_iterations(workdir, prep["grid"], prep["target"], a.max_iterations, a.tolerance, a.threads,
                         a.max_seconds)
    if res is None:
        write_status(a.status, False, iterations=len(finished_steps(workdir)))
        return 0
    tab = export_table(final_potential(workdir, res["steps"]), a.table_begin_nm, prep["r_max_nm"],
                       Path(a.out_table))
    out = Path(a.out_npz)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **tab, rdf_r_nm=prep["grid"], rdf_target=prep["target"], rdf_iterations=res["rdfs"],
             rms=res["rms"], seconds=res["seconds"], converged=res["converged"], tolerance=a.tolerance,
             temperature_K=a.temperature_K)
    log(f"RMS Δg per iteration: {np.round(res['rms'], 4).tolist()}; converged={res['converged']}; "
        f"total {time.time() - t_start:.0f} s")
    write_status(a.status, True, iterations=len(res["steps"]))
    return 0


def main_sim(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cgexplain imc-sim",
                                description="production CG LAMMPS run with the final IMC table")
    _common(p)
    p.add_argument("--table", required=True, help="LAMMPS table written by `cgexplain imc` (section IMC)")
    p.add_argument("--workdir", required=True, help="run dir, e.g. results/{system}/imc/production")
    p.add_argument("--out", required=True, help="trajectory.npz (same contract as the NNP CG runs)")
    p.add_argument("--production-steps", type=int, default=500000)
    p.add_argument("--save-interval", type=int, default=250)
    p.add_argument("--start-frame", type=int, default=-1, help="dataset frame to start from (-1: last training frame)")
    a = p.parse_args(argv)
    try:
        io.require_program("lmp")
    except io.MissingProgramError as e:
        print(f"cgexplain imc-sim: {e}", file=sys.stderr)
        return 3
    ds = load_dataset(a.dataset)
    mass = _single_mass(ds)
    idx = np.asarray(ds.get("train_idx", np.arange(len(ds["coords"]))))
    frame = int(idx[a.start_frame]) if len(idx) else 0
    boxes = np.asarray(ds["box"], np.float64).reshape(-1, 3)
    box = boxes[frame if len(boxes) > 1 else 0]
    t0 = time.time()
    res = run_production(Path(a.table), np.asarray(ds["coords"][frame], np.float64), box, mass,
                         Path(a.workdir), temperature_K=a.temperature_K, timestep_fs=a.timestep_fs,
                         equilibration_steps=a.equilibration_steps, production_steps=a.production_steps,
                         save_interval=a.save_interval, friction_per_ps=a.friction_per_ps, seed=a.seed,
                         template_dir=a.templates, threads=a.threads, mpi_ranks=a.mpi_ranks)
    write_trajectory(Path(a.out), res["coords"], res["box"], ds["z"], ds["masses"], a.timestep_fs, a.save_interval)
    log(f"production: {len(res['coords'])} frames of {res['coords'].shape[1]} beads in {time.time() - t0:.1f} s "
        f"-> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main_imc())
