"""Force-matching training: the loss decreases on a tiny real dataset; an interrupted run resumes."""

import csv

import cgexplain.train as tr
import numpy as np
import pytest
import torch
from cgexplain.nn.models import load_potential

HP = {"cutoff_A": 4.0, "n_atom_basis": 8, "n_interactions": 2, "n_rbf": 6}
P = {"batch_size": 4, "accumulate_grad_batches": 1, "lr": 5e-3, "weight_decay": 0.01, "lr_factor": 0.5,
     "lr_patience": 50, "lr_cooldown": 0, "min_lr": 1e-6, "ema_decay": 0.5, "max_epochs": 12,
     "early_stopping_patience": 50, "seed": 0}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small LJ fluid with exact forces: positions relaxed from a lattice, forces from the LJ pair potential."""
    rng = np.random.default_rng(0)
    L, n = 9.0, 27
    g = (np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * (L / 3)
    frames = g[None] + rng.normal(scale=0.15, size=(24, n, 3))
    d = frames[:, None, :, :] - frames[:, :, None, :]
    d -= L * np.round(d / L)
    r = np.linalg.norm(d, axis=-1) + np.eye(n)[None] * 1e3
    eps, sig = 0.3, 2.6
    mag = 24 * eps * (2 * (sig / r) ** 12 - (sig / r) ** 6) / r  # -dU/dr
    mag[r > 4.0] = 0.0
    forces = -(mag[..., None] * d / r[..., None]).sum(2)
    path = tmp_path_factory.mktemp("ds") / "dataset.npz"
    np.savez(path, coords=(frames % L).astype("f4"), forces=forces.astype("f4"),
             box=np.full((24, 3), L, "f4"), z=np.full(n, 6), masses=np.full(n, 16.04),
             train_idx=np.arange(20), val_idx=np.arange(20, 24))
    return path


def crash_on_epoch(monkeypatch, epoch):
    """Make the validation of epoch ``epoch`` raise KeyboardInterrupt (a kill); returns the real evaluate."""
    real, calls = tr.evaluate, {"n": 0}

    def crashing(*a, **k):
        calls["n"] += 1
        if calls["n"] == epoch:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(tr, "evaluate", crashing)
    return real


@pytest.mark.parametrize("arch", ["painn", "schnet"])
def test_loss_decreases(dataset, tmp_path, arch):
    meta = tr.train(dataset, arch, HP, P, tmp_path / "model.pt", device="cpu")
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    first, best = float(rows[0]["train_rmse"]), min(float(r["train_rmse"]) for r in rows)
    assert best < 0.8 * first
    assert float(rows[-1]["val_rmse"]) < float(rows[0]["val_rmse"])
    pot = load_potential(tmp_path / "model.pt")
    assert pot.meta["best_val_rmse"] == pytest.approx(meta["best_val_rmse"])
    # the exported model is the best EMA model: its validation RMSE is the recorded one
    d = np.load(dataset)
    X, F, B = (torch.tensor(d[k][d["val_idx"]]) for k in ("coords", "forces", "box"))
    assert tr.evaluate(pot, X, F, B, 4) == pytest.approx(meta["best_val_rmse"], rel=1e-4)
    assert not (tmp_path / "work" / "checkpoint.pt").exists()


def test_interrupted_training_resumes(dataset, tmp_path, monkeypatch):
    p = {**P, "max_epochs": 3}
    real = crash_on_epoch(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        tr.train(dataset, "painn", HP, p, tmp_path / "model.pt", device="cpu")
    ck = torch.load(tmp_path / "work" / "checkpoint.pt", weights_only=False)
    assert ck["state"]["epoch"] == 2 and not (tmp_path / "model.pt").exists()
    done = [dict(r) for r in ck["state"]["history"]]
    monkeypatch.setattr(tr, "evaluate", real)
    meta = tr.train(dataset, "painn", HP, p, tmp_path / "model.pt", device="cpu")
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and meta["epochs"] == 3
    assert [float(r["val_rmse"]) for r in rows[:2]] == pytest.approx([d["val_rmse"] for d in done])
    # the resumed run is the uninterrupted run: same weights bit for bit, same history
    tr.train(dataset, "painn", HP, p, tmp_path / "clean" / "model.pt", device="cpu")
    a, b = (torch.load(d / "model.pt", weights_only=False) for d in (tmp_path, tmp_path / "clean"))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0, msg=k)
    clean = list(csv.DictReader(open(tmp_path / "clean" / "history.csv")))
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in rows] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in clean]


def test_resume_after_a_learning_rate_change_starts_fresh(dataset, tmp_path, monkeypatch, capsys):
    """Killed at lr 5e-3, rerun at lr 1e-2: nothing of the old run is kept, the result equals a clean run."""
    p = {**P, "max_epochs": 3}
    real = crash_on_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        tr.train(dataset, "painn", HP, p, tmp_path / "a" / "model.pt", device="cpu")
    monkeypatch.setattr(tr, "evaluate", real)
    capsys.readouterr()
    p2 = {**p, "lr": 1e-2}
    tr.train(dataset, "painn", HP, p2, tmp_path / "a" / "model.pt", device="cpu")
    err = capsys.readouterr().err
    assert "different configuration" in err and "resuming" not in err
    tr.train(dataset, "painn", HP, p2, tmp_path / "b" / "model.pt", device="cpu")
    rows = [list(csv.DictReader(open(tmp_path / d / "history.csv"))) for d in ("a", "b")]
    assert [float(r["lr"]) for r in rows[0]] == [1e-2] * 3
    assert [float(r["val_rmse"]) for r in rows[0]] == pytest.approx([float(r["val_rmse"]) for r in rows[1]], rel=1e-6)


def test_nonfinite_forces_are_refused_and_nothing_is_saved(dataset, tmp_path, capsys):
    d = dict(np.load(dataset))
    d["forces"][3, 5, 1] = np.nan
    bad = tmp_path / "nan_dataset.npz"
    np.savez(bad, **d)
    out = tmp_path / "m" / "model.pt"
    import json

    rc = tr.main(["--dataset", str(bad), "--arch", "painn", "--hparams", json.dumps(HP), "--params",
                  json.dumps(P), "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and not out.exists()
    assert str(bad) in err[-1] and "non-finite" in err[-1] and "Traceback" not in "\n".join(err)


def test_a_nonfinite_loss_stops_training_without_saving(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(tr, "evaluate", lambda *a, **k: float("nan"))
    with pytest.raises(tr.TrainingError, match="non-finite loss at epoch 1"):
        tr.train(dataset, "painn", HP, {**P, "max_epochs": 2}, tmp_path / "model.pt", device="cpu")
    assert not (tmp_path / "model.pt").exists()


def test_bad_hparams_are_rejected(dataset, tmp_path):
    with pytest.raises(ValueError, match="unknown architecture"):
        tr.train(dataset, "mace", HP, P, tmp_path / "m.pt", device="cpu")
