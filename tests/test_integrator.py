"""The batched B-A-O-A-B Langevin engine: energy conservation, Boltzmann sampling, failure handling."""

import math

import numpy as np
import pytest
import torch
from cgexplain.simulate import AMU_TO_INTERNAL, KB_KCAL, LangevinBAOAB, SimulationError

MASS = 10.0  # amu


def harmonic(k):
    def f(x):
        return 0.5 * k * (x ** 2).sum(dim=(1, 2)), -k * x
    return f


def test_energy_conserved_without_friction():
    torch.manual_seed(0)
    k = 1.0
    integ = LangevinBAOAB(harmonic(k), np.full(3, MASS), dt_ps=0.005, friction_per_ps=0.0, temperature_K=300.0)
    x = torch.randn(4, 3, 3, dtype=torch.float64)
    v = integ.init_velocities(x)
    _, f = harmonic(k)(x)
    m = MASS * AMU_TO_INTERNAL
    energies = []

    def cb(step, x_, v_, e_, f_):
        energies.append((e_ + 0.5 * m * (v_ ** 2).sum(dim=(1, 2))).numpy())

    integ.run(x, v, f, 4000, cb)
    E = np.array(energies)  # (steps, replicas)
    rel = np.abs(E - E[0]) / E[0]
    assert rel.max() < 5e-3  # bounded shadow-energy oscillation, O((ω dt)²)
    drift = np.abs(E[-500:].mean(0) - E[:500].mean(0)) / E[0]
    assert drift.max() < 5e-4  # no systematic drift (symplectic splitting)


def test_friction_zero_is_deterministic_and_reversible():
    integ = LangevinBAOAB(harmonic(2.0), np.full(2, MASS), 0.002, 0.0, 300.0)
    x0 = torch.tensor([[[1.0, 0.0, 0.0], [0.0, -0.5, 0.2]]], dtype=torch.float64)
    v0 = torch.tensor([[[0.0, 3.0, 0.0], [1.0, 0.0, 0.0]]], dtype=torch.float64)
    _, f0 = harmonic(2.0)(x0)
    x1, v1, _, f1 = integ.run(x0, v0, f0, 500)
    x2, v2, _, _ = integ.run(x1, -v1, f1, 500)  # run backwards in time
    assert torch.allclose(x2, x0, atol=1e-9) and torch.allclose(-v2, v0, atol=1e-9)


def double_well(h_kT, T, k_perp):
    kT = KB_KCAL * T
    h = h_kT * kT

    def f(x):
        X, Y = x[..., 0], x[..., 1:]
        e = (h * (X ** 2 - 1.0) ** 2).sum(1) + 0.5 * k_perp * (Y ** 2).sum(dim=(1, 2))
        F = torch.cat([(-4.0 * h * X * (X ** 2 - 1.0))[..., None], -k_perp * Y], dim=-1)
        return e, F
    return f, h, kT


def test_langevin_samples_boltzmann_double_well():
    T, k_perp = 300.0, 2.0
    force, h, kT = double_well(1.0, T, k_perp)
    gen = torch.Generator().manual_seed(1)
    integ = LangevinBAOAB(force, [MASS], dt_ps=0.004, friction_per_ps=5.0, temperature_K=T, generator=gen)
    R = 256
    x = torch.zeros(R, 1, 3, dtype=torch.float64)
    x[:, 0, 0] = torch.where(torch.arange(R) % 2 == 0, 1.0, -1.0)
    v = integ.init_velocities(x)
    _, f = force(x)
    x, v, _, f = integ.run(x, v, f, 1000)  # burn-in
    xs, temps = [], []

    def cb(step, x_, v_, e_, f_):
        if step % 10 == 0:
            xs.append(x_[:, 0, 0].clone())
            temps.append(integ.kinetic_temperature(v_).mean().item())

    integ.run(x, v, f, 6000, cb)
    samples = torch.cat(xs).numpy()
    grid = np.linspace(-2.5, 2.5, 20001)
    w = np.exp(-h * (grid ** 2 - 1) ** 2 / kT)
    w /= w.sum()
    exact_x2 = (w * grid ** 2).sum()
    exact_barrier = w[np.abs(grid) < 0.5].sum()
    assert abs(np.mean(temps) - T) / T < 0.02
    assert abs((samples ** 2).mean() - exact_x2) / exact_x2 < 0.03
    assert abs((np.abs(samples) < 0.5).mean() - exact_barrier) < 0.02
    assert abs(samples.mean()) < 0.1  # symmetric wells both populated


def test_unit_constants_against_physics():
    # 1 kcal/mol/Å on 1 amu accelerates by 418.4 Å/ps²; kB = R = 1.987204 cal/mol/K
    assert 1.0 / AMU_TO_INTERNAL == pytest.approx(418.4)
    assert KB_KCAL == pytest.approx(8.314462618 / 4184.0, rel=1e-6)
    # thermal velocity of a methane bead (16.04 amu) at 300 K: sqrt(kT/m) = 394.3 m/s = 3.943 Å/ps
    gen = torch.Generator().manual_seed(5)
    integ = LangevinBAOAB(harmonic(1.0), np.full(100, 16.04), 0.002, 1.0, 300.0, generator=gen)
    v = integ.init_velocities(torch.zeros(50, 100, 3, dtype=torch.float64))
    assert v.std().item() == pytest.approx(3.943, rel=0.01)


@pytest.mark.parametrize("source", ["init_velocities", "thermostat from rest"])
def test_velocity_distribution_is_maxwell_boltzmann(source):
    """The initial velocities, and those the O-step's noise gives free beads started at rest after ten
    relaxation times, follow the Maxwell–Boltzmann distribution of each bead's own mass: every Cartesian
    component normal with mean 0 and variance kT/m, speeds Maxwell-distributed (Kolmogorov–Smirnov),
    components uncorrelated, ⟨½ m v²⟩ = 3/2 kT per bead. Two masses in one system: a mean mass, or masses
    applied to the wrong beads, fails."""
    from scipy import stats

    T = 250.0
    masses = np.array([16.0, 1.008] * 25)
    gen = torch.Generator().manual_seed(3)
    integ = LangevinBAOAB(harmonic(0.0), masses, 0.002, 50.0, T, generator=gen)  # zero force: free beads
    x = torch.zeros(400, 50, 3, dtype=torch.float64)
    v = integ.init_velocities(x)
    if source != "init_velocities":
        _, v, _, _ = integ.run(x, torch.zeros_like(x), torch.zeros_like(x), 100)  # 100 × 0.002 ps × 50/ps = 10
    kT = KB_KCAL * T
    for m in (16.0, 1.008):
        sd = math.sqrt(kT / (m * AMU_TO_INTERNAL))
        u = (v[:, masses == m] / sd).numpy()  # (400, 25, 3): standard normal if right
        flat = u.reshape(-1)
        n = len(flat)
        assert abs(flat.mean()) < 5 / math.sqrt(n)
        assert abs(flat.var() - 1.0) < 5 * math.sqrt(2.0 / n)
        assert stats.kstest(flat, "norm").pvalue > 1e-3
        assert stats.kstest(np.linalg.norm(u, axis=-1).reshape(-1), stats.maxwell.cdf).pvalue > 1e-3
        c = np.corrcoef(u[..., 0].reshape(-1), u[..., 1].reshape(-1))[0, 1]
        assert abs(c) < 5 / math.sqrt(n / 3)
        ek = 0.5 * m * AMU_TO_INTERNAL * (v[:, masses == m] ** 2).sum(-1).numpy().reshape(-1)  # per bead
        assert abs(ek.mean() / (1.5 * kT) - 1.0) < 5 * ek.std() / math.sqrt(len(ek)) / (1.5 * kT)
    assert integ.kinetic_temperature(v).mean().item() == pytest.approx(T, rel=0.01)


def test_non_finite_force_names_step_and_replica():
    def bad(x):
        f = -x.clone()
        if bad.calls >= 2:  # the third force evaluation, i.e. step 3
            f[1, 0, 0] = float("nan")
        bad.calls += 1
        return (x ** 2).sum(dim=(1, 2)), f
    bad.calls = 0
    integ = LangevinBAOAB(bad, np.full(2, MASS), 0.002, 1.0, 300.0)
    x = torch.zeros(3, 2, 3, dtype=torch.float64)
    with pytest.raises(SimulationError, match=r"step 3 in replica 1"):
        integ.run(x, torch.zeros_like(x), torch.zeros_like(x), 10)


def test_temperature_band_stops_a_blowing_up_harmonic():
    """A spring too stiff for the timestep (ω dt ≈ 4) heats without bound: the run stops at the first
    check, with the replica, the steps averaged over and the band in one line, long before inf."""
    gen = torch.Generator().manual_seed(0)
    integ = LangevinBAOAB(harmonic(1e5), np.full(4, MASS), 0.002, 1.0, 300.0, generator=gen,
                          temperature_band=(0.5, 2.0), check_every=10)
    x = torch.zeros(3, 4, 3, dtype=torch.float64)
    v = integ.init_velocities(x)
    seen = []
    with pytest.raises(SimulationError) as e:
        integ.run(x, v, harmonic(1e5)(x)[1], 100, lambda step, *_: seen.append(step))
    msg = str(e.value)
    assert "\n" not in msg and integ.step_count == 10 and seen == list(range(1, 10))
    assert msg.startswith("kinetic temperature ") and (
        "of replica 0, averaged over steps 1-10, is outside [150, 600] K "
        "(temperature_band [0.5, 2] × 300 K); 2 more replica(s) too") in msg
    assert float(msg.split()[2]) > 1e6


def test_temperature_band_passes_a_thermostatted_run():
    gen = torch.Generator().manual_seed(2)
    integ = LangevinBAOAB(harmonic(1.0), np.full(50, MASS), 0.002, 5.0, 300.0, generator=gen,
                          temperature_band=(0.5, 2.0), check_every=10)
    x = torch.randn(8, 50, 3, dtype=torch.float64, generator=gen)
    integ.final_step = 205  # the last, partial interval (201-205) is checked too
    integ.run(x, integ.init_velocities(x), harmonic(1.0)(x)[1], 205)
    assert integ._ek_n == 0


def test_bead_step_limit_names_bead_replica_and_step():
    def free(x):
        return torch.zeros(len(x), dtype=x.dtype), torch.zeros_like(x)

    box = torch.full((3,), 6.0, dtype=torch.float64)
    integ = LangevinBAOAB(free, np.full(4, MASS), 0.002, 0.0, 300.0, box=box, max_step_A=0.5,
                          max_step_why=" (max_step_fraction_of_cutoff 0.1 × cutoff 5 Å)")
    x = torch.full((3, 4, 3), 3.0, dtype=torch.float64)
    v = torch.zeros_like(x)
    v[:, :, 0] = 100.0  # 0.2 Å per step: crosses the 6 Å box every 30 steps, wrapping is no jump
    x, v, _, f = integ.run(x, v, torch.zeros_like(x), 100)
    assert integ.step_count == 100
    v[2, 1] = torch.tensor([0.0, 400.0, 0.0])  # 0.8 Å in one step
    with pytest.raises(SimulationError) as e:
        integ.run(x, v, f, 10)
    assert str(e.value) == ("bead 1 of replica 2 moved 0.8 Å in step 101, more than 0.5 Å "
                            "(max_step_fraction_of_cutoff 0.1 × cutoff 5 Å)")
