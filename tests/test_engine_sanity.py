"""Issue 12: the CG engine resumes only its own state and stops on unphysical dynamics; every
loader refuses bad input in one line that names the file.

A tiny LJ-like fluid (27 beads, 9 Å box) and a small untrained PaiNN (cutoff 4 Å) stand in for the
workflow's data and models; runs are a few dozen steps on the CPU (bit-identical reruns)."""

from __future__ import annotations

import json

import cgexplain.simulate as sim
import numpy as np
import pytest
import torch
from cgexplain.analysis import observables as analysis
from cgexplain.core.errors import InputError
from cgexplain.data.dataset import DatasetError, load_dataset, load_trajectory
from cgexplain.nn.models import CGPotential, ModelConfig, load_potential, save_potential
from cgexplain.relevance import run as rel_cli

N, L, CUTOFF = 27, 9.0, 4.0
P = {"n_replicas": 2, "timestep_fs": 2.0, "friction_per_ps": 1.0, "temperature_K": 300.0, "n_steps": 40,
     "save_interval": 5, "checkpoint_interval": 10, "save_forces": False, "seed": 0,
     "temperature_band": [0.5, 2.0], "max_step_fraction_of_cutoff": 0.1}
ANALYSIS = {"n_frames": 4, "rdf_max_A": 4.0, "rdf_bins": 20, "angle_bins": 9, "q_bins": 10, "triplet_bins": 5}


def lj_frames(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = (np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * (L / 3)
    X = g[None] + rng.normal(scale=0.15, size=(n_frames, N, 3))
    d = X[:, None, :, :] - X[:, :, None, :]
    d -= L * np.round(d / L)
    r = np.linalg.norm(d, axis=-1) + np.eye(N)[None] * 1e3
    mag = 24 * 0.3 * (2 * (2.6 / r) ** 12 - (2.6 / r) ** 6) / r
    mag[r > CUTOFF] = 0.0
    return (X % L).astype("f4"), (-(mag[..., None] * d / r[..., None]).sum(2)).astype("f4")


def write_ds(path, coords, forces, **over):
    F = len(coords)
    arrays = dict(coords=coords, forces=forces, box=np.full((F, 3), L, "f4"), z=np.full(N, 6),
                  masses=np.full(N, 16.04), train_idx=np.arange(F - 4), val_idx=np.arange(F - 4, F))
    arrays.update(over)
    np.savez(path, **arrays)
    return path


def small_model(path, seed=0, n_beads=N):
    torch.manual_seed(seed)
    pot = CGPotential(ModelConfig(arch="painn", cutoff=CUTOFF, n_atom_basis=8, n_interactions=1, n_rbf=4),
                      z=[6] * n_beads)
    save_potential(path, pot)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    X, F = lj_frames(12)
    write_ds(d / "dataset.npz", X, F)
    small_model(d / "model.pt", seed=0)
    small_model(d / "model_b.pt", seed=1)
    return d


def one_error_line(err: str, command: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith(f"cgexplain {command}: error: ")]
    assert len(lines) == 1, err
    return lines[0]


class Interrupt:
    """Raise KeyboardInterrupt at the ``n``-th call of ``simulate.wrap`` (once per step, plus once
    at a fresh start): a run killed mid-way after a checkpoint."""

    def __init__(self, n):
        self.n, self.calls, self.real = n, 0, sim.wrap

    def __call__(self, *a):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.real(*a)


def run(inputs, out, p=None, model="model.pt"):
    return sim.simulate(inputs / model, inputs / "dataset.npz", {**P, **(p or {})}, out, device="cpu")


def killed(monkeypatch, inputs, out, p=None, model="model.pt"):
    monkeypatch.setattr(sim, "wrap", Interrupt(25))  # killed in step 24, after the checkpoint at step 20
    with pytest.raises(KeyboardInterrupt):
        run(inputs, out, p, model)
    monkeypatch.setattr(sim, "wrap", sim.wrap.real)
    assert (out.parent / "work" / "checkpoint.pt").exists() and not out.exists()


def assert_same_trajectory(a, b):
    ta, tb = np.load(a), np.load(b)
    assert ta["coords"].shape == tb["coords"].shape
    np.testing.assert_array_equal(ta["coords"], tb["coords"])
    np.testing.assert_array_equal(ta["energies"], tb["energies"])
    for k in ("dt_fs", "temperature_K", "save_interval", "seed", "fingerprint"):
        assert ta[k] == tb[k], k


# -- 1a, 1c: the checkpoint belongs to one fingerprint ---------------------------------------------

@pytest.mark.parametrize("change", [{"p": {"timestep_fs": 1.0}}, {"model": "model_b.pt"}])
def test_changed_parameters_or_model_start_fresh(inputs, tmp_path, monkeypatch, capsys, change):
    out = tmp_path / "run" / "trajectory.npz"
    killed(monkeypatch, inputs, out)
    capsys.readouterr()
    run(inputs, out, **change)
    err = capsys.readouterr().err
    assert "CG simulation: the state in" in err and "starting fresh, nothing of it is kept" in err
    assert "resuming" not in err
    assert not (out.parent / "work").exists()  # released on success
    clean = tmp_path / "clean" / "trajectory.npz"
    run(inputs, clean, **change)
    assert_same_trajectory(out, clean)
    t = np.load(out)
    assert float(t["dt_fs"]) == change.get("p", {}).get("timestep_fs", 2.0)
    assert t["coords"].shape == (2, 8, N, 3)


def test_unchanged_parameters_resume_bit_identically(inputs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run" / "trajectory.npz"
    killed(monkeypatch, inputs, out)
    capsys.readouterr()
    run(inputs, out)
    err = capsys.readouterr().err
    assert "resuming from step 20/40" in err and "starting fresh" not in err
    clean = tmp_path / "clean" / "trajectory.npz"
    run(inputs, clean)
    assert_same_trajectory(out, clean)


# -- 1b: physical sanity ----------------------------------------------------------------------------

class Wrapped(torch.nn.Module):
    """A loaded potential whose forces ``extra(call, x)`` adds to, from the ``start``-th call on."""

    def __init__(self, pot, extra):
        super().__init__()
        self.pot, self.extra, self.calls = pot, extra, 0

    @property
    def cutoff(self):
        return self.pot.cutoff

    @property
    def z(self):
        return self.pot.z

    def forward(self, x, box, **kw):  # kw: check_box, as the CG engine passes it
        e, f = self.pot(x, box, **kw)
        self.calls += 1
        return e, f + self.extra(self.calls - 1, x)


def patch_potential(monkeypatch, extra):
    real = sim.load_potential
    monkeypatch.setattr(sim, "load_potential", lambda *a, **k: Wrapped(real(*a, **k), extra))


def test_heating_potential_stops_with_temperature_error(inputs, tmp_path, monkeypatch):
    # from step 12 on, a uniform field of 200 kcal/mol/Å drives every bead: the kinetic temperature
    # climbs by ~10x within a few steps while no bead moves more than 0.1 Å per step
    def field(call, x):
        f = torch.zeros_like(x)
        if call >= 12:
            f[..., 0] = 200.0
        return f

    patch_potential(monkeypatch, field)
    out = tmp_path / "trajectory.npz"
    with pytest.raises(sim.SimulationError) as e:
        run(inputs, out)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("kinetic temperature ") and "of replica 0, averaged over steps 11-15, is outside " \
        "[150, 600] K (temperature_band [0.5, 2] × 300 K)" in msg
    failed = load_trajectory(tmp_path / "trajectory.failed.npz")  # steps 5 and 10, finite
    assert failed["coords"].shape == (2, 2, N, 3) and np.isfinite(failed["coords"]).all()
    assert not out.exists()


def test_bead_jump_stops_with_displacement_error(inputs, tmp_path, monkeypatch, capsys):
    def kick(call, x):  # one huge force on bead 3 of replica 1, computed at step 12
        f = torch.zeros_like(x)
        if call == 12:
            f[1, 3] = torch.tensor([1e5, 0.0, 0.0])
        return f

    patch_potential(monkeypatch, kick)
    out = tmp_path / "trajectory.npz"
    rc = sim.main(["--model", str(inputs / "model.pt"), "--dataset", str(inputs / "dataset.npz"),
                   "--params", json.dumps(P), "--out", str(out), "--device", "cpu"])
    assert rc == 1
    line = one_error_line(capsys.readouterr().err, "simulate")
    assert "bead 3 of replica 1 moved" in line and "in step 13, more than 0.4 Å " \
        "(max_step_fraction_of_cutoff 0.1 × cutoff 4 Å)" in line
    failed = np.load(tmp_path / "trajectory.failed.npz")
    assert failed["coords"].shape == (2, 2, N, 3) and np.isfinite(failed["coords"]).all()


# -- 1d, 2: loaders refuse bad input in one line naming the file -----------------------------------

@pytest.fixture(scope="module")
def bad_files(inputs, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    X, F = lj_frames(12)
    Xn = X.copy()
    Xn[3, 5, 1] = np.nan
    write_ds(d / "nan_coords.npz", Xn, F)
    Fn = F.copy()
    Fn[7, 0, 0] = np.inf
    write_ds(d / "nan_forces.npz", X, Fn)
    raw = (inputs / "dataset.npz").read_bytes()
    (d / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    T = np.stack([X[:4], X[4:8]]).copy()
    T[1, 2, 0, 0] = np.nan
    np.savez(d / "nan_traj.npz", coords=T, box=np.full(3, L, "f4"), z=np.full(N, 6), masses=np.full(N, 16.04))
    (d / "random.pt").write_bytes(np.random.default_rng(0).bytes(3000))
    mraw = (inputs / "model.pt").read_bytes()
    (d / "truncated.pt").write_bytes(mraw[: len(mraw) // 2])
    return d


def observables(path, out):
    return analysis.main(["--input", str(path), "--params", json.dumps(ANALYSIS), "--shell", "3.5",
                          "--triplet-cutoffs", "4.0", "--out", str(out)])


def relevance(model, out, *src):
    return rel_cli.main_relevance(["--model", str(model), *src, "--out", str(out), "--device", "cpu",
                                   "--n-frames", "2"])


def test_observables_refuse_nan_coordinates(bad_files, tmp_path, capsys):
    assert observables(bad_files / "nan_coords.npz", tmp_path / "o.npz") == 2
    line = one_error_line(capsys.readouterr().err, "observables")
    assert f"{bad_files / 'nan_coords.npz'}: coords of frame 3 are non-finite" in line
    assert observables(bad_files / "nan_traj.npz", tmp_path / "o.npz") == 2
    line = one_error_line(capsys.readouterr().err, "observables")
    assert f"{bad_files / 'nan_traj.npz'}: coords of replica 1, frame 2 are non-finite" in line
    assert observables(bad_files / "truncated.npz", tmp_path / "o.npz") == 2
    line = one_error_line(capsys.readouterr().err, "observables")
    assert f"{bad_files / 'truncated.npz'}: not an npz file or truncated" in line
    assert not (tmp_path / "o.npz").exists()


def test_relevance_refuses_nan_coordinates(inputs, bad_files, tmp_path, capsys):
    model = inputs / "model.pt"
    assert relevance(model, tmp_path / "r.npz", "--dataset", str(bad_files / "nan_coords.npz")) == 2
    line = one_error_line(capsys.readouterr().err, "relevance")
    assert f"{bad_files / 'nan_coords.npz'}: coords of frame 3 are non-finite" in line
    assert relevance(model, tmp_path / "r.npz", "--trajectory", str(bad_files / "nan_traj.npz")) == 2
    line = one_error_line(capsys.readouterr().err, "relevance")
    assert f"{bad_files / 'nan_traj.npz'}: coords of replica 1, frame 2 are non-finite" in line
    assert not (tmp_path / "r.npz").exists()


def test_training_refuses_nan_forces(bad_files, tmp_path):
    import cgexplain.train as tr

    hp = {"cutoff_A": CUTOFF, "n_atom_basis": 8, "n_interactions": 1, "n_rbf": 4}
    p = {"batch_size": 4, "accumulate_grad_batches": 1, "lr": 5e-3, "weight_decay": 0.0, "lr_factor": 0.5,
         "lr_patience": 5, "lr_cooldown": 0, "min_lr": 1e-6, "ema_decay": 0.5, "max_epochs": 1,
         "early_stopping_patience": 5, "seed": 0}
    with pytest.raises(DatasetError) as e:
        tr.train(bad_files / "nan_forces.npz", "painn", hp, p, tmp_path / "model.pt", device="cpu")
    assert "\n" not in str(e.value)
    assert f"{bad_files / 'nan_forces.npz'}: forces of frame 7 are non-finite" in str(e.value)
    assert not (tmp_path / "model.pt").exists()


def test_truncated_dataset_and_non_model_files(inputs, bad_files, tmp_path, capsys):
    with pytest.raises(InputError, match="truncated.npz: not an npz file or truncated") as e:
        load_dataset(bad_files / "truncated.npz")
    assert "\n" not in str(e.value)
    (tmp_path / "notes.npz").write_text("hello")
    with pytest.raises(InputError, match=r"CG trajectory .*notes.npz: not an npz file \(it starts with b'hell'"):
        load_trajectory(tmp_path / "notes.npz")
    with pytest.raises(InputError, match=r"CG trajectory .*truncated.npz: not an npz file or truncated"):
        load_trajectory(bad_files / "truncated.npz")
    for path in (bad_files / "random.pt", bad_files / "truncated.pt", inputs / "dataset.npz"):
        with pytest.raises(InputError) as e:
            load_potential(path)
        assert f"model file {path} cannot be read: not a cgexplain-model/1 file, or truncated" in str(e.value)
        assert "\n" not in str(e.value)
        assert relevance(path, tmp_path / "r.npz", "--dataset", str(inputs / "dataset.npz")) == 2
        assert f"model file {path} cannot be read" in one_error_line(capsys.readouterr().err, "relevance")
    # a prior file (another cgexplain payload) given as the model
    torch.save({"format": "cgexplain-prior/1", "prior": {}}, tmp_path / "prior.pt")
    rc = sim.main(["--model", str(tmp_path / "prior.pt"), "--dataset", str(inputs / "dataset.npz"),
                   "--params", json.dumps(P), "--out", str(tmp_path / "t.npz"), "--device", "cpu"])
    assert rc == 2
    line = one_error_line(capsys.readouterr().err, "simulate")
    assert line.endswith(f"model file {tmp_path / 'prior.pt'} is not a cgexplain-model/1 file "
                         "(it holds a cgexplain-prior/1 file)")


def test_non_finite_weights_are_neither_written_nor_loaded(inputs, tmp_path):
    pot = load_potential(inputs / "model.pt")
    sd = {k: v.clone() for k, v in pot.net.state_dict().items()}
    name = next(k for k, v in sd.items() if v.is_floating_point())
    sd[name][...] = float("nan")
    with pytest.raises(ValueError, match=f"refusing to write model {tmp_path / 'm.pt'}: 1 weight tensor"):
        save_potential(tmp_path / "m.pt", pot, state_dict=sd)
    assert not (tmp_path / "m.pt").exists()
    payload = torch.load(inputs / "model.pt", weights_only=False)
    payload["state_dict"] = sd
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(InputError, match=f"model file {tmp_path / 'nan.pt'} is unusable: 1 weight tensor"):
        load_potential(tmp_path / "nan.pt")


def test_bead_count_mismatch_names_both_files(inputs, tmp_path, capsys):
    model = small_model(tmp_path / "model_125.pt", n_beads=125)
    rc = sim.main(["--model", str(model), "--dataset", str(inputs / "dataset.npz"), "--params", json.dumps(P),
                   "--out", str(tmp_path / "t.npz"), "--device", "cpu"])
    assert rc == 2
    line = one_error_line(capsys.readouterr().err, "simulate")
    assert line.endswith(f"model {model} expects 125 beads of types {{6: 125}}, dataset "
                         f"{inputs / 'dataset.npz'} has 27 beads of types {{6: 27}}")
