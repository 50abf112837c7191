"""``cgexplain relevance`` end to end on a tiny model: output format, resumption, input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cgexplain.nn.models import CGPotential, ModelConfig, save_potential
from cgexplain.relevance import run as cli

N, BOX = 6, 8.5


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel")
    torch.manual_seed(0)
    pot = CGPotential(ModelConfig(arch="painn", cutoff=4.0, n_atom_basis=8, n_interactions=2, n_rbf=5),
                      z=[1] * N)
    save_potential(d / "model.pt", pot)
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, BOX, (5, N, 3)).astype(np.float32)
    np.savez(d / "dataset.npz", coords=coords, forces=np.zeros_like(coords),
             box=np.full((5, 3), BOX, np.float32), z=np.ones(N, np.int64), masses=np.ones(N),
             train_idx=np.arange(4), val_idx=np.arange(4, 5))
    np.savez(d / "trajectory.npz", coords=coords.reshape(1, 5, N, 3), box=np.full(3, BOX),
             z=np.ones(N, np.int64))
    return d


def run(files, *extra, out="rel.npz"):
    return cli.main_relevance(["--model", str(files / "model.pt"), "--out", str(files / out),
                               "--device", "cpu", *extra])


def test_dataset_output_format(files):
    assert run(files, "--dataset", str(files / "dataset.npz"), "--n-frames", "2") == 0
    d = np.load(files / "rel.npz")
    assert str(d["format"]) == cli.FORMAT and str(d["arch"]) == "painn"
    assert d["frame_index"].shape == (2,) and d["r1"].shape == (2, N)
    assert d["order_totals"].shape == (2, 3)
    np.testing.assert_allclose(d["order_totals"].sum(1), d["total"], rtol=1e-10)
    for f in range(2):
        s = d["r1"][f].sum() + d["pair_r"][d["pair_frame"] == f].sum() + d["trip_r"][d["trip_frame"] == f].sum()
        assert s == pytest.approx(d["total"][f], rel=1e-10)
    np.testing.assert_allclose(d["pair_rnorm"], d["pair_r"] / d["norm"][d["pair_frame"]])
    assert (d["pair_dist"] < 4.0).all() and (d["walk2_dist"] < 4.0).all()
    assert len(d["walk2_r"]) == 6 * len(d["pair_r"])  # 2^3 - 2 walks per pair for L = 2
    assert not (files / "rel.npz.parts").exists()


def test_trajectory_source_and_resume(files, monkeypatch, capsys):
    """Killed during the second frame and rerun: only the missing frames are computed, and the file is
    the file of an uninterrupted run, array for array."""
    real = cli.compute_frame
    calls, kill_at = [], {"n": 2}

    def counted(*a, **k):
        calls.append(1)
        if len(calls) == kill_at["n"]:
            raise KeyboardInterrupt  # simulated kill during the second frame
        return real(*a, **k)

    monkeypatch.setattr(cli, "compute_frame", counted)
    traj = ["--trajectory", str(files / "trajectory.npz"), "--n-frames", "3"]
    with pytest.raises(KeyboardInterrupt):
        run(files, *traj, out="t.npz")
    assert not (files / "t.npz").exists()
    assert len(list((files / "t.npz.parts").glob("frame_*.npz"))) == 1
    calls.clear()
    kill_at["n"] = 0
    assert run(files, *traj, out="t.npz") == 0
    assert "resumed" in capsys.readouterr().err
    assert len(calls) == 2  # frames 2 and 3 only: frame 1 was kept
    d = np.load(files / "t.npz")
    assert str(d["source"]) == "trajectory" and d["n_walks"].shape == (3,)
    calls.clear()
    assert run(files, *traj, out="t_clean.npz") == 0
    assert len(calls) == 3
    clean = np.load(files / "t_clean.npz")
    assert sorted(d.files) == sorted(clean.files)
    for k in clean.files:
        np.testing.assert_array_equal(d[k], clean[k], err_msg=k)


def _dataset(path, coords, box, n_beads=N):
    F = len(coords)
    np.savez(path, coords=coords, forces=np.zeros_like(coords), box=box, z=np.ones(n_beads, np.int64),
             masses=np.ones(n_beads), train_idx=np.arange(F), val_idx=np.arange(F))


def test_input_errors(files, capsys):
    def err_line():
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cgexplain relevance: error: "), lines
        return lines[0]

    assert run(files, "--dataset", str(files / "missing.npz")) == 2
    assert "missing.npz does not exist" in err_line()
    np.savez(files / "bad.npz", coords=np.zeros((2, N, 3)))
    assert run(files, "--dataset", str(files / "bad.npz")) == 2
    assert "bad.npz: missing key(s) ['forces', 'box'" in err_line()
    rng = np.random.default_rng(1)
    _dataset(files / "bad2.npz", rng.uniform(0, BOX, (2, N, 3)), np.full(3, BOX))
    assert run(files, "--dataset", str(files / "bad2.npz")) == 2
    line = err_line()
    assert "bad2.npz: inconsistent shapes" in line and "box (3,)" in line
    _dataset(files / "bad3.npz", rng.uniform(0, BOX, (2, N + 1, 3)), np.full((2, 3), BOX), N + 1)
    assert run(files, "--dataset", str(files / "bad3.npz")) == 2
    line = err_line()
    assert f"model {files / 'model.pt'} expects {N} beads" in line and f"bad3.npz has {N + 1} beads" in line
    assert cli.main_relevance(["--model", str(files / "nope.pt"), "--dataset",
                               str(files / "dataset.npz"), "--out", str(files / "x.npz")]) == 2
    assert "nope.pt does not exist" in err_line()


def test_select_frames():
    f = cli.select_frames(100, 10, 1)
    assert len(f) == 10 and len(set(f)) == 10 and f.max() < 100
    np.testing.assert_array_equal(f, cli.select_frames(100, 10, 1))
    np.testing.assert_array_equal(cli.select_frames(3, 10, 1), [0, 1, 2])


def test_plots_smoke(files, tmp_path):
    import shutil

    from cgexplain.figures import relevance as plots

    assert run(files, "--dataset", str(files / "dataset.npz"), "--n-frames", "2", out="p.npz") == 0
    res = tmp_path / "results"
    for system in ("water", "methane"):
        (res / system / "analysis").mkdir(parents=True)
        (res / system / "cg").mkdir(parents=True)
        r = np.linspace(0.05, 8, 100)
        np.savez(res / system / "analysis" / "aa.npz", rdf_r=r, rdf_g=1 + np.sin(r))
        shutil.copy(files / "dataset.npz", res / system / "cg" / "dataset.npz")
        for model in ("painn", "so3net"):
            (res / system / "relevance" / model).mkdir(parents=True)
            (res / system / "models" / model).mkdir(parents=True)
            shutil.copy(files / "p.npz", res / system / "relevance" / model / "aa.npz")
            shutil.copy(files / "model.pt", res / system / "models" / model / "model.pt")
    out = tmp_path / "fig"
    R = ["--results", str(res)]
    S = ["--systems", "water", "methane"]
    assert plots.main(["fig2", *R, *S, "--out", str(out / "fig2.pdf")]) == 0
    assert plots.main(["fig3", *R, *S, "--out", str(out / "fig3.pdf")]) == 0
    assert plots.main(["walks2", *R, "--system", "water", "--out", str(out / "s5.pdf")]) == 0
    assert plots.main(["s9", *R, "--system", "water", "--out", str(out / "s9.pdf")]) == 0
    assert plots.main(["s10", *R, "--system", "water", "--n-frames", "3", "--out", str(out / "s10.pdf")]) == 0
    for name in ("fig2", "fig3", "s5", "s9", "s10"):
        assert (out / f"{name}.pdf").stat().st_size > 1000 and (out / f"{name}.png").exists()
    assert plots.main(["fig3", "--results", str(tmp_path / "none"), *S, "--out", str(out / "x.pdf")]) == 2


def test_triplet_occurrences_counts(tmp_path):
    """Figure S10's (θ, L) histogram equals a brute-force count over all i < j < k (law of cosines on the
    minimum-image distances; tests/test_observable_values.py), not the geometry module it calls."""
    from cgexplain.figures.relevance import triplet_occurrences
    from test_observable_values import brute_force_triplets

    rng = np.random.default_rng(3)
    box = np.array([16.0, 16.5, 17.0])  # half the box > 2 × cutoff: every connected triangle closes
    coords = rng.uniform(-4.0, 20.0, (5, 60, 3)).astype(np.float32)
    np.savez(tmp_path / "ds.npz", coords=coords, forces=np.zeros_like(coords), box=np.tile(box, (5, 1)),
             z=np.ones(60, np.int64), masses=np.ones(60), train_idx=np.array([0, 2, 3, 4]), val_idx=np.array([1]))
    H, te, le = triplet_occurrences(str(tmp_path / "ds.npz"), 3.5, 10, 12, 14)
    np.testing.assert_allclose(te, np.linspace(60, 180, 13))
    np.testing.assert_allclose(le, np.linspace(0, 7.0, 15))
    brute = sum(brute_force_triplets(coords[f].astype(np.float64), box, 3.5, te, le) for f in (0, 2, 3, 4))
    assert brute.sum() > 200
    np.testing.assert_array_equal(H, brute)  # the training frames only, each triplet once


def test_retrained_model_at_the_same_path_starts_fresh(files, tmp_path, monkeypatch, capsys):
    """The parts folder belongs to a fingerprint of the settings and the model's and input's content:
    a model retrained at the same path (new weights) discards the frames of the old one."""
    import shutil

    shutil.copy(files / "model.pt", tmp_path / "model.pt")
    args = ["--model", str(tmp_path / "model.pt"), "--dataset", str(files / "dataset.npz"), "--n-frames", "3",
            "--device", "cpu"]
    real = cli.compute_frame
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed during the third frame: two frames of the old model kept
        return real(*a, **k)

    monkeypatch.setattr(cli, "compute_frame", flaky)
    with pytest.raises(KeyboardInterrupt):
        cli.main_relevance([*args, "--out", str(tmp_path / "r.npz")])
    assert len(list((tmp_path / "r.npz.parts").glob("frame_*.npz"))) == 2
    monkeypatch.setattr(cli, "compute_frame", real)
    torch.manual_seed(7)  # "retrained": same path, same architecture, other weights
    save_potential(tmp_path / "model.pt",
                   CGPotential(ModelConfig(arch="painn", cutoff=4.0, n_atom_basis=8, n_interactions=2, n_rbf=5),
                               z=[1] * N))
    capsys.readouterr()
    assert cli.main_relevance([*args, "--out", str(tmp_path / "r.npz")]) == 0
    err = capsys.readouterr().err
    assert "relevance: the state in" in err and "starting fresh, nothing of it is kept" in err
    assert ": resumed" not in err
    assert cli.main_relevance([*args, "--out", str(tmp_path / "clean.npz")]) == 0
    a, b = np.load(tmp_path / "r.npz"), np.load(tmp_path / "clean.npz")
    for k in ("frame_index", "energy", "total", "r1", "pair_r", "trip_r"):
        np.testing.assert_array_equal(a[k], b[k])


def test_chunks_gathered_equal_one_run_over_all_frames(files, capsys):
    """Relevance scattered over frames (one job per chunk) and gathered is the same file as one job."""
    ds = str(files / "dataset.npz")
    assert run(files, "--dataset", ds, "--n-frames", "4", out="whole.npz") == 0
    parts = []
    for k in range(3):  # chunks of 2 frames: 2, 2 and an empty one past the end
        assert run(files, "--dataset", ds, "--n-frames", "4", "--chunk", str(k), "--chunk-size", "2",
                   out=f"chunk_{k}.npz") == 0
        parts.append(str(files / f"chunk_{k}.npz"))
    assert len(np.load(parts[2])["frame_index"]) == 0
    assert cli.main_gather(["--out", str(files / "gathered.npz"), *parts]) == 0
    whole, gathered = np.load(files / "whole.npz"), np.load(files / "gathered.npz")
    assert sorted(whole.files) == sorted(gathered.files)
    for k in whole.files:
        np.testing.assert_array_equal(whole[k], gathered[k], err_msg=k)
    assert (gathered["pair_frame"] == 3).any()  # rows of the second chunk renumbered
    # chunks of another run (different gamma) are refused, naming the file
    assert run(files, "--dataset", ds, "--n-frames", "4", "--chunk", "1", "--chunk-size", "2", "--gamma", "0.2",
               out="other.npz") == 0
    capsys.readouterr()
    assert cli.main_gather(["--out", str(files / "refused.npz"), parts[0], str(files / "other.npz")]) == 2
    assert "other.npz" in capsys.readouterr().err and not (files / "refused.npz").exists()
