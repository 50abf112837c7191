"""The run record (cgexplain.core.record, rule run_record): config, versions, git revision, seeds, device."""

import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cgexplain.cli import main as cli
from cgexplain.core import record

REPO = Path(__file__).resolve().parents[1]
CFG = {"tier": "unit", "results": "results/unit", "device": "cpu", "seed": 7,
       "train": {"split_seed": 3, "lr": 1e-3}, "runs": [{"seed": 1}, {"name": "it's quoted"}],
       "models": ["painn"]}


def git(*args, cwd=REPO):
    r = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def test_record_fields(tmp_path):
    before = git("rev-parse", "HEAD")
    rec = record.make_record(CFG, REPO, ["config/config.yaml", "mine.yaml"], ["conda"])
    after = git("rev-parse", "HEAD")
    out = record.write_record(rec, tmp_path / "run_record.yaml")
    got = yaml.safe_load(out.read_text())

    assert got["config"] == CFG  # the config round-trips
    assert got["configfiles"] == ["config/config.yaml", "mine.yaml"]
    assert got["tier"] == "unit" and got["results"] == "results/unit"
    assert got["seeds"] == {"seed": 7, "train.split_seed": 3, "runs.0.seed": 1}

    pk = got["packages"]
    # versions as the packages themselves report them (their __version__), not read back through the
    # importlib.metadata the recorder uses
    import deeptime
    import h5py
    import matplotlib
    import mdtraj
    import numpy
    import openmm
    import pandas
    import scipy
    import snakemake
    import torch
    from cgexplain.core.compat import spk  # noqa: F401  (schnetpack imports only through the shim)

    for name, module in {"torch": torch, "openmm": openmm, "snakemake": snakemake, "numpy": numpy,
                         "mdtraj": mdtraj, "pyyaml": yaml, "h5py": h5py, "scipy": scipy, "deeptime": deeptime,
                         "matplotlib": matplotlib, "pandas": pandas}.items():
        assert pk[name] == module.__version__, name
    # every dependency of every extra is listed: the names pyproject.toml pins, read here with tomllib
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    pinned = {r.split("==")[0].strip().lower().replace("_", "-"): r.split("==")[1].strip()
              for r in requirements if not r.startswith("cgexplain")}
    assert set(pk) - {"cgexplain"} == set(pinned) and len(pinned) >= 20
    # pins the installation meets (a local build such as 2.13.0+cpu meets 2.13.0)
    assert pk["schnetpack"] == pinned["schnetpack"] and pk["torch"].split("+")[0] == pinned["torch"]
    assert pk["cgexplain"] == project["version"]
    assert got["python"]["version"] == platform.python_version()
    import cgexplain

    assert got["cgexplain"]["version"] == cgexplain.__version__ == pk["cgexplain"]
    assert Path(got["cgexplain"]["path"]) == Path(cgexplain.__file__).resolve().parent

    if before is None:
        pytest.skip("the repository is not a git checkout here")
    assert got["git"]["revision"] in {before.strip(), after.strip()}
    assert Path(got["git"]["root"]) == REPO
    assert got["git"]["dirty"] == bool(git("status", "--porcelain", "--untracked-files=no").strip())


def test_record_device_and_deployment(tmp_path):
    import openmm
    import torch

    rec = record.make_record(CFG, REPO, deployment=["conda"])
    dev = rec["device"]
    assert dev["requested"] == "cpu" and dev["cpu"]["count"] == os.cpu_count() and dev["cpu"]["model"]
    assert dev["cuda"]["available"] == torch.cuda.is_available()
    if torch.cuda.is_available():
        assert dev["cuda"]["devices"] == [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    assert dev["openmm"]["platforms"] == [openmm.Platform.getPlatform(i).getName()
                                          for i in range(openmm.Platform.getNumPlatforms())]
    assert "Reference" in dev["openmm"]["platforms"]
    assert rec["deployment"]["methods"] == ["conda"]
    assert set(rec["deployment"]["conda_envs"]) == {p.stem for p in (REPO / "envs").glob("*.yaml")}
    assert record.make_record(CFG, REPO)["deployment"]["methods"] == ["none"]


def test_outside_git_the_revision_is_unknown(tmp_path):
    if git("rev-parse", "HEAD", cwd=tmp_path) is not None:
        pytest.skip(f"{tmp_path} is inside a git checkout")
    g = record.make_record(CFG, tmp_path)["git"]
    assert g == {"revision": "unknown", "dirty": "unknown", "root": "unknown"}


def test_pins_not_met_are_listed(monkeypatch):
    monkeypatch.setattr(record, "dependency_pins", lambda dist="cgexplain": {"numpy": "0.0.1", "torch": "2.13.0"})
    versions, off = record.package_versions()
    assert off == {"numpy": {"pinned": "0.0.1", "installed": md.version("numpy")}}  # 2.13.0+cpu meets 2.13.0
    assert set(versions) == {"cgexplain", "numpy", "torch"}


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_cli_writes_the_record(tmp_path, suffix):
    """As the rule runs it: ``cgexplain --log LOG record --config '<json>' ...`` in a subprocess."""
    out = tmp_path / "sub" / f"run_record{suffix}"
    log = tmp_path / "record.log"
    r = subprocess.run([sys.executable, "-m", "cgexplain", "--log", str(log), "record", "--config", json.dumps(CFG),
                        "--out", str(out), "--workflow-dir", str(REPO), "--configfile", "a.yaml", "b.yaml",
                        "--deployment"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = (json.loads if suffix == ".json" else yaml.safe_load)(out.read_text())
    assert got["config"] == CFG and got["configfiles"] == ["a.yaml", "b.yaml"]
    assert got["deployment"]["methods"] == ["none"]
    assert not list(out.parent.glob("*.tmp"))
    assert "run record:" in log.read_text()


def test_cli_bad_config_is_one_line(tmp_path, capsys):
    assert cli(["record", "--config", "{not json", "--out", str(tmp_path / "r.yaml")]) == 2
    assert "cgexplain record: error: config: invalid JSON" in capsys.readouterr().err
    assert not (tmp_path / "r.yaml").exists()


def test_dry_run_lists_the_record_rule():
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "config/smoke.yaml",
                        "--forcerun", "run_record"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    results = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["results"]
    assert "rule run_record:" in out, out[-3000:]
    assert f"{results}/run_record.yaml" in out
