"""IMC baseline (VOTCA-CSG + LAMMPS): unit conversion, table export, a tiny real IMC run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cgexplain.baselines import imc as cli
from cgexplain.baselines import imc_io as io
from conftest import skip_or_fail

MISSING_TOOLS = [t for t in ("csg_inverse", "lmp") if shutil.which(t) is None]


@pytest.fixture
def imc_tools():
    """Skip a test that runs VOTCA and LAMMPS where they are missing, or fail it under
    CGEXPLAIN_REQUIRE_TOOLS=1 (CI)."""
    if MISSING_TOOLS:
        skip_or_fail(f"needs Debian's votca and lammps: {', '.join(MISSING_TOOLS)} not on PATH")


needs_tools = pytest.mark.usefixtures("imc_tools")

SIGMA_NM, EPS_KJ = 0.373, 1.23  # methane-like Lennard-Jones bead


def lj_kj(r_nm):
    x = (SIGMA_NM / r_nm) ** 6
    return 4 * EPS_KJ * (x * x - x)


def lj_force_kj_nm(r_nm):
    x = (SIGMA_NM / r_nm) ** 6
    return 4 * EPS_KJ * (12 * x * x - 6 * x) / r_nm


# ------------------------------------------------------------------------------------------
# pure conversions (no external programs)
# ------------------------------------------------------------------------------------------

def test_votca_to_lammps_units_and_force_is_minus_derivative(tmp_path):
    r_nm = np.round(np.arange(0.0, 0.9001, 0.01), 6)
    U = np.where(r_nm > 0.25, lj_kj(np.maximum(r_nm, 0.25)), np.nan)
    flags = np.where(r_nm > 0.25, "i", "o")
    r_A, U_kcal, F = io.votca_pot_to_lammps(r_nm, U, flags, 0.15, 0.9, n_points=3000)
    assert r_A[0] == pytest.approx(1.5) and r_A[-1] == pytest.approx(9.0)
    # units: Å on x, kcal/mol on y, shifted to zero at the cut-off
    inside = (r_A > 3.2) & (r_A < 8.8)
    expect = (lj_kj(r_A / 10) - lj_kj(0.9)) / 4.184
    assert np.max(np.abs(U_kcal[inside] - expect[inside])) < 2e-3
    assert U_kcal[-1] == pytest.approx(0.0, abs=1e-12)
    # force column = −dU/dr (finite difference on the table itself) and = analytic force in kcal/mol/Å
    fd = -np.gradient(U_kcal, r_A)
    assert np.max(np.abs(F[5:-5] - fd[5:-5])) < 1e-3 * max(1.0, np.abs(F).max())
    assert np.max(np.abs(F[inside] - lj_force_kj_nm(r_A[inside] / 10) / 41.84)) < 2e-3 * np.abs(F[inside]).max()
    # below the first trusted point the wall stays repulsive
    assert np.all(np.diff(U_kcal[r_A < 2.6]) <= 0)
    # round trip through the LAMMPS table file
    io.write_lammps_table(tmp_path / "t.table", r_A, U_kcal, F, keyword="IMC")
    r2, U2, F2 = io.read_lammps_table(tmp_path / "t.table", "IMC")
    np.testing.assert_allclose(r2, r_A, rtol=1e-9)
    np.testing.assert_allclose(U2, U_kcal, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(F2, F, rtol=1e-8, atol=1e-9)


def test_rdf_on_grid_ideal_gas_is_flat():
    rng = np.random.default_rng(0)
    box = np.array([30.0, 30.0, 30.0])
    coords = rng.uniform(0, 30.0, size=(40, 200, 3))
    grid = io.votca_grid(0.0, 1.4, 0.05)
    g = io.rdf_on_grid(coords, box, grid)
    far = grid > 0.4
    # VOTCA's normalisation (density N/V): an ideal gas gives (N-1)/N
    assert np.mean(g[far]) == pytest.approx(199 / 200, abs=0.02)


def test_template_placeholders_must_all_be_filled():
    with pytest.raises(KeyError, match="B"):
        io.fill_template("@A@ and @B@", {"A": 1})
    for name in ("settings.xml.in", "imc.in", "production.in"):
        assert "@" in io.read_template(name)


def test_iterations_of_another_configuration_are_discarded(tmp_path, capsys):
    """Finished VOTCA steps are kept for a rerun of the same inputs and removed when any input changed."""
    for name in ("settings.xml", "imc.in", "conf.data", f"{cli.BEAD}.dist.tgt"):
        (tmp_path / name).write_text(name)
    cli._invalidate_stale_steps(tmp_path)
    for s in ("step_000", "step_001"):
        (tmp_path / s).mkdir()
        (tmp_path / s / "done").write_text("")
    cli._invalidate_stale_steps(tmp_path)  # same inputs: resume
    assert (tmp_path / "step_001").is_dir()
    (tmp_path / "imc.in").write_text("timestep 5.0")  # a changed LAMMPS input
    capsys.readouterr()
    cli._invalidate_stale_steps(tmp_path)
    assert not list(tmp_path.glob("step_*")) and "inputs changed" in capsys.readouterr().err


def test_missing_binary_gives_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(io.MissingProgramError) as e:
        io.require_program("lmp")
    assert "lammps" in str(e.value) and "\n" not in str(e.value)
    ds = tmp_path / "ds.npz"
    np.savez(ds, coords=np.zeros((1, 2, 3)), box=np.ones((1, 3)), z=[6, 6], masses=[16.0, 16.0])
    rc = cli.main_imc(["--dataset", str(ds), "--workdir", str(tmp_path / "w"),
                       "--out-table", str(tmp_path / "t"), "--out-npz", str(tmp_path / "t.npz")])
    err = capsys.readouterr().err.strip()
    assert rc == 3
    assert len(err.splitlines()) == 1 and "csg_inverse" in err and "votca" in err
    rc = cli.main_sim(["--dataset", str(ds), "--table", "x", "--workdir", str(tmp_path / "p"),
                       "--out", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err.strip()
    assert rc == 3 and len(err.splitlines()) == 1 and "lammps" in err


def test_a_resumed_job_of_a_chain_runs_an_iteration_before_it_checks_its_time(tmp_path, monkeypatch):
    """One job of a chain (JobBudget) stops after an iteration of its own, never before: a resumed job
    whose first check says "time used" would otherwise stop with nothing done, and its chain would never end.
    VOTCA is faked: each call finishes the next step."""
    calls = []

    def fake_csg_inverse(cmd, cwd, **kw):
        calls.append(cmd)
        step = Path(cwd) / f"step_{len(list(Path(cwd).glob('step_[0-9][0-9][0-9]'))) + 1:03d}"
        step.mkdir()
        (step / "done").write_text("")
        (step / f"{cli.BEAD}.dist.new").write_text("")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(io, "require_program", lambda name: name)
    monkeypatch.setattr(cli.subprocess, "run", fake_csg_inverse)
    monkeypatch.setattr(cli, "step_rms", lambda step, grid, target: (1.0, np.zeros_like(grid)))
    monkeypatch.setenv("CGEXPLAIN_JOB_CHECKPOINTS", "1")  # every job stops at its first checkpoint
    grid = np.linspace(0.0, 1.0, 5)
    for job, expected in enumerate((["step_001"], ["step_001", "step_002"], ["step_001", "step_002", "step_003"])):
        res = cli.run_iterations(tmp_path, grid, grid, max_iterations=3, tolerance=1e-9)
        assert [p.name for p in cli.finished_steps(tmp_path)] == expected, job
        assert len(calls) == job + 1  # one iteration per job
        assert (res is None) == (job < 2)  # the last job completes the stage
    assert [s.name for s in res["steps"]] == ["step_001", "step_002", "step_003"]


# ------------------------------------------------------------------------------------------
# a tiny real IMC run
# ------------------------------------------------------------------------------------------

IMC_ARGS: dict = {}


@pytest.fixture(scope="module")
def imc_run(tmp_path_factory):
    if MISSING_TOOLS:
        skip_or_fail(f"needs Debian's votca and lammps: {', '.join(MISSING_TOOLS)} not on PATH")
    d = tmp_path_factory.mktemp("imc")
    # reference: a Lennard-Jones liquid simulated with LAMMPS through the same table path
    r_nm = np.arange(0.15, 0.8001, 0.002)
    r_A, U, F = io.votca_pot_to_lammps(r_nm, lj_kj(r_nm), None, 0.15, 0.8)
    io.write_lammps_table(d / "lj.table", r_A, U, F, keyword="IMC")
    L, n = 17.0, 80
    grid = np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    start = grid * (L / 5) + 0.5
    ref = cli.run_production(d / "lj.table", start, [L] * 3, 16.04, d / "ref", temperature_K=300.0,
                             timestep_fs=2.0, equilibration_steps=2000, production_steps=12000,
                             save_interval=50, friction_per_ps=1.0, seed=3)
    c = ref["coords"].astype(np.float32)
    np.savez(d / "ds.npz", coords=c, forces=np.zeros_like(c), box=np.tile([L] * 3, (len(c), 1)),
             z=np.full(n, 6), masses=np.full(n, 16.04), train_idx=np.arange(len(c)), val_idx=np.arange(0))
    args = ["--dataset", str(d / "ds.npz"), "--workdir", str(d / "w"), "--out-table", str(d / "final.table"),
            "--out-npz", str(d / "final.npz"), "--max-iterations", "2", "--tolerance", "1e-6",
            "--rdf-max-nm", "0.8", "--equilibration-steps", "1000", "--steps-per-iteration", "3000",
            "--dump-every", "20", "--temperature-K", "300"]
    assert cli.main_imc(args) == 0
    IMC_ARGS[d] = args
    return d


@needs_tools
def test_imc_moves_rdf_towards_target(imc_run):
    res = np.load(imc_run / "final.npz")
    assert res["rms"].shape == (2,)
    assert res["rdf_iterations"].shape == (2, len(res["rdf_r_nm"]))
    assert res["rms"][1] < res["rms"][0]  # the IMC update improves on the Boltzmann-inverted guess
    assert not bool(res["converged"])
    prog = (imc_run / "w" / "imc_progress.tsv").read_text().splitlines()
    assert prog[0].split("\t")[:2] == ["step", "rms_dg"] and len(prog) == 3
    # re-running is resumable: nothing new is simulated, the same table comes out
    before = sorted(p.name for p in (imc_run / "w").glob("step_*"))
    args = [str(imc_run / "again.table") if a.endswith("final.table") else
            str(imc_run / "again.npz") if a.endswith("final.npz") else a for a in IMC_ARGS[imc_run]]
    assert cli.main_imc(args) == 0
    assert sorted(p.name for p in (imc_run / "w").glob("step_*")) == before
    assert (imc_run / "again.table").read_text().splitlines()[1:] == \
        (imc_run / "final.table").read_text().splitlines()[1:]


@needs_tools
def test_exported_table_matches_votcas_own_lammps_conversion(imc_run):
    # step_002's LAMMPS table is VOTCA's conversion (scale 10, y_scale 1/4.184) of step_001's potential
    w = imc_run / "w"
    r_v, U_v, F_v = io.read_lammps_table(w / "step_002" / "CG_CG.pot")
    r_nm, U_kJ, flags = io.read_votca_table(w / "step_001" / "CG-CG.pot.new")
    r_A, U, F = io.votca_pot_to_lammps(r_nm, U_kJ, flags, 0.15, 0.8)
    m = (r_v > 3.6) & (r_v < 7.8)
    assert np.max(np.abs(np.interp(r_v[m], r_A, U) - U_v[m])) < 0.02
    # forces: same units and scale (derivative estimates of a grid potential differ point by point)
    Fm = np.interp(r_v[m], r_A, F)
    assert float(Fm @ F_v[m] / (F_v[m] @ F_v[m])) == pytest.approx(1.0, abs=0.1)
    # the final table: F = −dU/dr
    r, U, F = io.read_lammps_table(imc_run / "final.table", "IMC")
    fd = -np.gradient(U, r)
    assert np.max(np.abs(F[5:-5] - fd[5:-5])) < 1e-2 * np.abs(F).max()


@needs_tools
def test_production_run_writes_trajectory_contract(imc_run):
    out = imc_run / "traj.npz"
    rc = cli.main_sim(["--dataset", str(imc_run / "ds.npz"), "--table", str(imc_run / "final.table"),
                       "--workdir", str(imc_run / "prod"), "--out", str(out), "--equilibration-steps", "500",
                       "--production-steps", "4000", "--save-interval", "50", "--timestep-fs", "2"])
    assert rc == 0
    t = np.load(out)
    assert t["coords"].shape == (1, 81, 80, 3) and t["coords"].dtype == np.float32
    assert t["box"].shape == (3,) and float(t["dt_fs"]) == 2.0 and int(t["save_interval"]) == 50
    assert t["z"].shape == (80,) and t["masses"].shape == (80,)
    assert np.all(t["coords"] >= 0) and np.all(t["coords"] < t["box"])
    res = np.load(imc_run / "final.npz")
    g = io.rdf_on_grid(t["coords"][0], t["box"], res["rdf_r_nm"])
    assert io.rms(g, res["rdf_target"]) < 0.15  # a liquid with the target's structure, not a gas


@needs_tools
def test_imc_and_production_with_two_mpi_ranks(imc_run, tmp_path):
    """imc.mpi_ranks: LAMMPS started as `mpirun -np 2 lmp`, inside VOTCA's iterations and the production run."""
    d = imc_run
    args = [a if a != str(d / "w") else str(tmp_path / "w") for a in IMC_ARGS[d]]
    args = [str(tmp_path / "final.npz") if a == str(d / "final.npz") else a for a in args]
    args = [str(tmp_path / "final.table") if a == str(d / "final.table") else a for a in args]
    assert cli.main_imc([*args, "--max-iterations", "1", "--mpi-ranks", "2"]) == 0
    assert "mpirun -np 2" in (tmp_path / "w" / "settings.xml").read_text()
    logs = list((tmp_path / "w").glob("step_001/log.lammps")) or list((tmp_path / "w").rglob("log.lammps"))
    assert logs and "with 2 MPI tasks" in logs[0].read_text()
    ds = np.load(d / "ds.npz")
    res = cli.run_production(tmp_path / "final.table", ds["coords"][0].astype(np.float64), [17.0] * 3, 16.04,
                             tmp_path / "prod", temperature_K=300.0, timestep_fs=2.0, equilibration_steps=100,
                             production_steps=500, save_interval=50, friction_per_ps=1.0, seed=3, mpi_ranks=2)
    assert res["coords"].shape[1:] == (80, 3) and len(res["coords"]) >= 10 and np.isfinite(res["coords"]).all()
    assert "with 2 MPI tasks" in (tmp_path / "prod" / "log.lammps").read_text()
