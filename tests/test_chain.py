"""Long stages under a wall-time limit (execution.max_job_minutes) run as a chain of jobs, each resuming
the previous one's checkpoint, and give the same result as one long job (same seed, CPU): reference MD,
training, CG simulation and IMC."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
import yaml
from test_pipeline import copy_repo, snakemake


def overlay(work, name, **extra):
    cfg = {"results": f"results/{name}", "models": ["painn"],
           "systems": {"water": {"enabled": False}, "ntl9": {"enabled": False},
                       "methane": {"md": {"production_ps": 6.0}}},
           "md": {"checkpoint_interval_ps": 1.0},
           "train": {"max_epochs": 6, "early_stopping_patience": 10},
           "simulate": {"n_steps": 400, "save_interval": 10, "checkpoint_interval": 50},
           "imc": {"systems": ["methane"], "max_iterations": 3, "tolerance": 1e-6}, **extra}
    path = work / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return f"config/{name}.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The methane reference MD, PaiNN training and IMC, once as single jobs, once under a 0.6 s job limit."""
    work = copy_repo(tmp_path_factory.mktemp("chain"))
    targets = ["results/{}/methane/aa/replica_0.h5", "results/{}/methane/models/painn/model.pt",
               "results/{}/methane/imc/imc.npz", "results/{}/methane/cgsim/painn/trajectory.npz"]
    for name, limit in (("single", None), ("chained", 0.01)):
        cfg = overlay(work, name, execution={"max_job_minutes": limit})
        r = snakemake(*[t.format(name) for t in targets], "--cores", "2", "--configfile", "config/smoke.yaml", cfg,
                      cwd=work, timeout=1200)
        assert r.returncode == 0, r.stderr[-4000:]
    return work


def jobs(work, name, folder):
    files = sorted((work / "results" / name / "methane" / folder / "chain").rglob("job_*.json"))
    return [json.loads(f.read_text()) for f in files]


def test_md_under_a_job_limit_runs_as_a_chain_with_the_same_frames(runs):
    chain = jobs(runs, "chained", "aa")
    assert len(chain) >= 2 and [j["complete"] for j in chain] == [False] * (len(chain) - 1) + [True]
    assert len(jobs(runs, "single", "aa")) == 1
    logs = sorted((runs / "results" / "chained" / "logs" / "reference_md").glob("methane_0_job*.log"))
    assert len(logs) == len(chain) and "resumed" in logs[-1].read_text().splitlines()[0]
    frames = []
    for name in ("single", "chained"):
        with h5py.File(runs / "results" / name / "methane" / "aa" / "replica_0.h5") as h5:
            frames.append((h5["coords"][:], h5["forces"][:], h5["time_ps"][:]))
    for a, b in zip(*frames):
        np.testing.assert_array_equal(a, b)


def test_training_under_a_job_limit_runs_as_a_chain_with_the_same_model(runs):
    chain = jobs(runs, "chained", "models/painn")
    assert len(chain) >= 2 and chain[-1]["complete"] and chain[-1]["epochs"] == 6
    models = [torch.load(runs / "results" / n / "methane" / "models" / "painn" / "model.pt", weights_only=False)
              for n in ("single", "chained")]
    a, b = (m["state_dict"] for m in models)
    assert a.keys() == b.keys()
    for k in a:  # bit for bit (PyTorch's deterministic kernels, cgexplain.core.runtime.prepare_stage)
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    hist = [(runs / "results" / n / "methane" / "models" / "painn" / "history.csv").read_text().splitlines()
            for n in ("single", "chained")]
    assert len(hist[0]) == len(hist[1]) == 7  # header + 6 epochs, none repeated or lost


def test_imc_under_a_job_limit_runs_as_a_chain_with_the_same_table(runs):
    chain = jobs(runs, "chained", "imc")
    assert len(chain) >= 2 and chain[-1]["complete"] and chain[-1]["iterations"] == 3
    single, chained = (np.load(runs / "results" / n / "methane" / "imc" / "imc.npz") for n in ("single", "chained"))
    assert single.files == chained.files
    for k in single.files:
        if k != "seconds":
            np.testing.assert_array_equal(single[k], chained[k], err_msg=k)


def test_cg_simulation_under_a_job_limit_runs_as_a_chain_with_the_same_frames(runs):
    chain = jobs(runs, "chained", "cgsim/painn")
    assert len(chain) >= 2 and [j["complete"] for j in chain] == [False] * (len(chain) - 1) + [True]
    single, chained = (np.load(runs / "results" / n / "methane" / "cgsim" / "painn" / "trajectory.npz")
                       for n in ("single", "chained"))
    assert single["coords"].shape == chained["coords"].shape == (single["coords"].shape[0], 40, 125, 3)
    for k in ("coords", "energies"):
        np.testing.assert_array_equal(single[k], chained[k], err_msg=k)
