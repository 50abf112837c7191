"""Reference MD: a few hundred real steps of each system; saved forces equal −∇U (finite differences)."""

import h5py
import numpy as np
import openmm
import pytest
from cgexplain.reference.reference_md import KJ_PER_NM_TO_KCAL_PER_A, make_simulation, run_reference_md
from cgexplain.systems import get_system
from openmm import unit

BASE = {"friction_per_ps": 1.0, "platform": "CPU", "checkpoint_interval_ps": 0.1, "report_interval_ps": 0.2,
        "temperature_band": [0.5, 2.0], "reproducible": True}
SYSTEMS = {
    "methane": {"n_molecules": 125, "box_A": [20.768, 20.410, 17.969], "timestep_fs": 2.0,
                "save_interval_ps": 0.1, "equilibration_ps": 0.2, "production_ps": 0.4, "nonbonded_cutoff_nm": 0.88},
    "water": {"box_edge_nm": 2.0, "timestep_fs": 1.0, "save_interval_ps": 0.05, "equilibration_ps": 0.1,
              "production_ps": 0.2, "nonbonded_cutoff_nm": 0.9},
}


def block(system_name, **md):
    """A system config block as the rules hand it to `cgexplain md` (common md keys merged in)."""
    return {"temperature_K": 300.0, "md": {**BASE, **SYSTEMS[system_name], **md}}


def reference_forces_and_slope(system_name, p, coords_A, direction, h_A=1e-3):
    """On the Reference platform (double precision), at ``coords_A``: the forces in kcal/mol/Å, converted
    with OpenMM's own units (not the module's constant), and the central finite difference of the
    potential energy along the unit vector ``direction`` (3N), dU/ds in kcal/mol/Å."""
    sim = make_simulation(get_system(system_name), {**p, "md": {**p["md"], "platform": "Reference"}}, 0, None)
    ctx = sim.context
    box = ctx.getState().getPeriodicBoxVectors()
    x = coords_A.astype(np.float64)
    ctx.setPositions(x / 10.0)
    ctx.setPeriodicBoxVectors(*box)
    f = ctx.getState(getForces=True).getForces(asNumpy=True).value_in_unit(
        unit.kilocalorie_per_mole / unit.angstrom)
    e = []
    for s in (+1, -1):
        ctx.setPositions((x + s * h_A * direction.reshape(x.shape)) / 10.0)
        ctx.setPeriodicBoxVectors(*box)
        e.append(ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilocalorie_per_mole))
    return np.asarray(f), (e[0] - e[1]) / (2 * h_A)


@pytest.mark.parametrize("system_name", ["methane", "water"])
def test_reference_md_forces_are_minus_gradient(tmp_path, system_name):
    p = block(system_name)
    out = tmp_path / "aa" / "trajectory.h5"
    info = run_reference_md(system_name, p, out, 7, threads=2)
    assert out.exists() and not (tmp_path / "aa" / "trajectory.h5.partial").exists()
    with h5py.File(out) as h5:
        n = 4
        assert h5["coords"].shape[0] == n == info["frames"]
        x, f = h5["coords"][-1], h5["forces"][-1]
        assert np.isfinite(h5["coords"][:]).all() and np.isfinite(h5["forces"][:]).all()
        assert h5["box"].shape == (n, 3)
        n_mol = len(np.unique(h5["molecule"][:]))
        assert n_mol == (125 if system_name == "methane" else 258)
        assert h5.attrs["system"] == system_name and bool(h5.attrs["periodic"])
        assert len(h5["atom_names"]) == len(h5["masses"]) and h5["bonds"].shape[1] == 2
        # forces are in kcal/mol/Å: typical magnitudes of a liquid at 300 K
        assert 0.5 < np.abs(f).mean() < 100
        # the molecules moved (real dynamics)
        assert np.abs(h5["coords"][-1] - h5["coords"][0]).max() > 0.05
    # one force comparison: every stored force (single precision, mixed-precision CPU platform) against
    # the Reference platform's at the same positions; PME adds ~1e-3 relative noise
    u = f.astype(np.float64).ravel()
    u /= np.linalg.norm(u)
    ref, slope = reference_forces_and_slope(system_name, p, x, u)
    np.testing.assert_allclose(f, ref, rtol=2e-2, atol=0.05)
    # and the stored forces are −∇U in the energy's units: the energy falls along them at the rate |F|
    assert slope == pytest.approx(-np.linalg.norm(f.astype(np.float64)), rel=1e-3)


def test_unit_conversion_constant():
    """The module's kJ/mol/nm -> kcal/mol/Å factor against OpenMM's unit system (1 kcal = 4.184 kJ there)."""
    one = 1.0 * unit.kilojoule_per_mole / unit.nanometer
    assert KJ_PER_NM_TO_KCAL_PER_A == pytest.approx(one.value_in_unit(unit.kilocalorie_per_mole / unit.angstrom),
                                                    rel=1e-12)


def test_resume_after_interruption(tmp_path, monkeypatch):
    p = block("methane", production_ps=0.6)
    out = tmp_path / "aa" / "trajectory.h5"
    import cgexplain.reference.reference_md as rmd

    real = rmd._frame
    calls = {"n": 0}

    def crashing(sim, periodic):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # simulated kill after 3 frames (checkpointed every frame)
        return real(sim, periodic)

    monkeypatch.setattr(rmd, "_frame", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_reference_md("methane", p, out, 7, threads=2)
    assert not out.exists() and (tmp_path / "aa" / "trajectory.h5.partial").exists()
    monkeypatch.setattr(rmd, "_frame", real)
    info = run_reference_md("methane", p, out, 7, threads=2)
    with h5py.File(out) as h5:
        assert h5["coords"].shape[0] == 6 == info["frames"]
        np.testing.assert_allclose(h5["time_ps"][:], np.arange(1, 7) * 0.1, atol=1e-9)
        resumed = h5["coords"][:]
    # an uninterrupted run with the same seed gives the same frames, bit for bit
    clean = tmp_path / "clean" / "trajectory.h5"
    run_reference_md("methane", p, clean, 7, threads=2)
    with h5py.File(clean) as h5:
        np.testing.assert_array_equal(h5["coords"][:], resumed)


def _interrupt_after(monkeypatch, n_frames):
    import cgexplain.reference.reference_md as rmd

    real, calls = rmd._frame, {"n": 0}

    def crashing(sim, periodic):
        calls["n"] += 1
        if calls["n"] > n_frames:
            raise KeyboardInterrupt
        return real(sim, periodic)

    monkeypatch.setattr(rmd, "_frame", crashing)
    return lambda: monkeypatch.setattr(rmd, "_frame", real)


def test_resume_after_a_parameter_change_starts_fresh(tmp_path, monkeypatch, capsys):
    """Killed with one save interval, rerun with another: no frame of the old run is kept."""
    out = tmp_path / "aa" / "trajectory.h5"
    restore = _interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        run_reference_md("methane", block("methane", production_ps=0.6), out, 7, threads=2)
    restore()
    capsys.readouterr()
    p2 = block("methane", production_ps=0.6, save_interval_ps=0.2)
    info = run_reference_md("methane", p2, out, 7, threads=2)
    err = capsys.readouterr().err
    assert "different configuration" in err and "starting fresh" in err and "resuming" not in err
    with h5py.File(out) as h5:
        assert info["frames"] == 3 == h5["coords"].shape[0]
        np.testing.assert_allclose(h5["time_ps"][:], [0.2, 0.4, 0.6], atol=1e-9)
        assert h5.attrs["save_interval_ps"] == pytest.approx(0.2)
        changed = h5["coords"][:]
    clean = tmp_path / "clean" / "trajectory.h5"
    run_reference_md("methane", p2, clean, 7, threads=2)
    with h5py.File(clean) as h5:
        np.testing.assert_array_equal(h5["coords"][:], changed)


def test_same_seed_same_trajectory_on_cpu(tmp_path):
    p = block("methane")
    runs = []
    for k in range(2):
        out = tmp_path / str(k) / "trajectory.h5"
        run_reference_md("methane", p, out, 11, threads=2)
        with h5py.File(out) as h5:
            runs.append((h5["coords"][:], h5["forces"][:]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    other = tmp_path / "other" / "trajectory.h5"
    run_reference_md("methane", p, other, 12, threads=2)
    with h5py.File(other) as h5:
        assert np.abs(h5["coords"][:] - runs[0][0]).max() > 1e-3  # the seed matters


def test_kinetic_temperature_out_of_band_stops_with_frames_kept(tmp_path, monkeypatch):
    """A saved frame whose kinetic temperature leaves the band stops the run, naming frame and value;
    the frames before it are kept in the .failed file."""
    import cgexplain.reference.reference_md as rmd

    real, calls = rmd._frame, {"n": 0}

    def heating(sim, periodic):
        calls["n"] += 1
        if calls["n"] == 3:  # the thermostat of a broken set-up: velocities ×3 -> T ×9
            st = sim.context.getState(getVelocities=True)
            sim.context.setVelocities(st.getVelocities(asNumpy=True) * 3.0)
        return real(sim, periodic)

    monkeypatch.setattr(rmd, "_frame", heating)
    out = tmp_path / "aa" / "trajectory.h5"
    with pytest.raises(rmd.MDError, match=r"kinetic temperature .* K at production frame 3 is outside \[150, 600\] K"):
        run_reference_md("methane", block("methane"), out, 7, threads=2)
    assert not out.exists() and not (tmp_path / "aa" / "trajectory.h5.partial").exists()
    with h5py.File(tmp_path / "aa" / "trajectory.failed.h5") as h5:
        assert h5["coords"].shape[0] == 2 and np.isfinite(h5["coords"][:]).all()


def test_unknown_platform_is_a_clear_error(tmp_path):
    p = block("methane", platform="NoSuchPlatform")
    with pytest.raises(ValueError, match="NoSuchPlatform"):
        run_reference_md("methane", p, tmp_path / "t.h5", 1)
