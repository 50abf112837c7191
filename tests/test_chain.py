"""Long stages under a wall-time limit (execution.max_job_minutes) run as a chain of jobs, each resuming
the previous one's checkpoint, and give the same result as one long job (same seed, CPU): reference MD,
training, CG simulation and IMC.

The chains' lengths do not depend on the machine's speed: every job of the chained run stops at its first
checkpoint (``CGEXPLAIN_JOB_CHECKPOINTS=1``, a hook of :class:`cgexplain.core.runtime.JobBudget`) under a
limit far longer than any job takes, so each stage runs exactly one job per checkpoint interval. The
uninterrupted reference is the smoke tier's own run (the session fixture ``smoke_run`` of
tests/conftest.py, also checked end to end by tests/test_pipeline.py): the chained run uses the smoke
settings for methane, so only the job limit differs and no stage is run twice for the comparison."""

from __future__ import annotations

import csv
import json
import math
import os

import h5py
import numpy as np
import pytest
import torch
import yaml
from cgexplain.core.runtime import CHECKPOINTS_ENV, JobBudget
from test_pipeline import copy_repo, snakemake

TARGETS = ["methane/aa/replica_0.h5", "methane/models/painn/model.pt", "methane/imc/imc.npz",
           "methane/cgsim/painn/trajectory.npz"]


# ------------------------------------------------------------------------------------ JobBudget
def test_job_budget_by_time_and_by_checkpoint_count(monkeypatch):
    monkeypatch.delenv(CHECKPOINTS_ENV, raising=False)
    unlimited = JobBudget(None)
    assert not any(unlimited.spent() for _ in range(50))
    assert JobBudget(1e-9).spent()  # a limit already used up
    assert not JobBudget(3600.0).spent()
    counted = JobBudget(3600.0, checkpoints=3)
    assert [counted.spent() for _ in range(4)] == [False, False, True, True]
    monkeypatch.setenv(CHECKPOINTS_ENV, "1")  # the environment's hook, for the workflow's jobs
    assert JobBudget(None).spent() and JobBudget(3600.0).checkpoints == 1
    assert JobBudget(None, checkpoints=2).checkpoints == 2  # an explicit count wins
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(CHECKPOINTS_ENV, bad)
        with pytest.raises(ValueError, match=CHECKPOINTS_ENV):
            JobBudget(None)


# ------------------------------------------------------------------------ chains in the workflow
@pytest.fixture(scope="module")
def runs(smoke_run, tmp_path_factory):
    """(single-job results: the smoke run's, chained results, the chained run's work folder)."""
    work = copy_repo(tmp_path_factory.mktemp("chain"))
    overlay = {"results": "results/chained", "models": ["painn"],
               "systems": {"water": {"enabled": False}, "ntl9": {"enabled": False}},
               "imc": {"systems": ["methane"]}, "execution": {"max_job_minutes": 30}}
    (work / "config" / "chained.yaml").write_text(yaml.safe_dump(overlay))
    r = snakemake(*[f"results/chained/{t}" for t in TARGETS], "--cores", "2", "--configfile", "config/smoke.yaml",
                  "config/chained.yaml", cwd=work, timeout=1800, env={**os.environ, CHECKPOINTS_ENV: "1"})
    assert r.returncode == 0, r.stderr[-4000:]
    smoke = yaml.safe_load((smoke_run / "config" / "smoke.yaml").read_text())
    return smoke_run / smoke["results"], work / "results" / "chained", work, smoke


def jobs(results, folder):
    files = sorted((results / "methane" / folder / "chain").rglob("job_*.json"))
    return [json.loads(f.read_text()) for f in files]


def history(results):
    rows = list(csv.DictReader((results / "methane" / "models" / "painn" / "history.csv").read_text().splitlines()))
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.slow
def test_md_under_a_job_limit_runs_as_a_chain_with_the_same_frames(runs):
    single, chained, _, smoke = runs
    md = {**smoke["md"], **smoke["systems"]["methane"]["md"]}
    n_checkpoints = math.ceil(md["production_ps"] / md["checkpoint_interval_ps"] - 1e-9)
    chain = jobs(chained, "aa")
    assert n_checkpoints >= 2 and len(chain) == n_checkpoints  # one job per checkpoint interval
    assert [j["complete"] for j in chain] == [False] * (len(chain) - 1) + [True]
    assert len(jobs(single, "aa")) == 1
    logs = sorted((chained / "logs" / "reference_md").glob("methane_0_job*.log"))
    headers = [next(line for line in log.read_text().splitlines() if line.startswith("==== attempt")) for log in logs]
    assert len(logs) == len(chain) and "· fresh" in headers[0] and all("· resumed" in h for h in headers[1:])
    frames = []
    for results in (single, chained):
        with h5py.File(results / "methane" / "aa" / "replica_0.h5") as h5:
            frames.append((h5["coords"][:], h5["forces"][:], h5["time_ps"][:]))
    for a, b in zip(*frames):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_training_under_a_job_limit_runs_as_a_chain_with_the_same_model(runs):
    single, chained, _, _ = runs
    epochs = len(history(single))
    chain = jobs(chained, "models/painn")
    assert epochs >= 2 and len(chain) == epochs and chain[-1]["complete"] and chain[-1]["epochs"] == epochs
    models = [torch.load(r / "methane" / "models" / "painn" / "model.pt", weights_only=False) for r in (single, chained)]
    a, b = (m["state_dict"] for m in models)
    assert a.keys() == b.keys()
    for k in a:  # bit for bit (PyTorch's deterministic kernels, cgexplain.core.runtime.prepare_stage)
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert history(chained) == history(single)  # every epoch once, none repeated or lost, the same numbers


@pytest.mark.slow
def test_imc_under_a_job_limit_runs_as_a_chain_with_the_same_table(runs):
    single, chained, _, _ = runs
    s, c = (np.load(r / "methane" / "imc" / "imc.npz") for r in (single, chained))
    iterations = len(s["rms"])
    chain = jobs(chained, "imc")
    assert iterations >= 2 and len(chain) == iterations and chain[-1]["complete"]
    assert chain[-1]["iterations"] == iterations
    assert s.files == c.files
    for k in s.files:
        if k != "seconds":
            np.testing.assert_array_equal(s[k], c[k], err_msg=k)


@pytest.mark.slow
def test_cg_simulation_under_a_job_limit_runs_as_a_chain_with_the_same_frames(runs):
    single, chained, _, smoke = runs
    sim = smoke["simulate"]
    chain = jobs(chained, "cgsim/painn")
    assert len(chain) == sim["n_steps"] // sim["checkpoint_interval"] >= 2
    assert [j["complete"] for j in chain] == [False] * (len(chain) - 1) + [True]
    s, c = (np.load(r / "methane" / "cgsim" / "painn" / "trajectory.npz") for r in (single, chained))
    assert s["coords"].shape == c["coords"].shape == (sim["n_replicas"], sim["n_steps"] // sim["save_interval"], 125, 3)
    for k in ("coords", "energies"):
        np.testing.assert_array_equal(s[k], c[k], err_msg=k)
