"""Supplementary Figure S2, the cutoff study (``cutoff_study``): models of one architecture at several
cutoffs go through the same train / simulate / observables rules as the architectures, named
``<arch>_c<cutoff>``, with the architecture's settings and only the cutoff changed; the cutoff equal to
the architecture's own is that model; the figure draws from observables files."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from cgexplain.core.config import (
    ParamsError,
    cutoff_model_name,
    cutoff_study,
    cutoff_variants,
    deep_merge,
    parse_cutoff_model,
)
from cgexplain.figures import fluid as plots
from cgexplain.validation import validate_config
from conftest import REPO

JOB_RE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


def dry_run_jobs(*args, tmp_path) -> list[dict]:
    """Jobs of ``snakemake -n -p`` (results in a fresh folder): rule, wildcards, output and shell command."""
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1", *args,
                        "--config", f"results={tmp_path / 'results'}"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    jobs, job = [], None
    for line in r.stdout.splitlines():
        m = JOB_RE.match(line.strip())
        if m:
            job = {"rule": m.group(1), "wildcards": {}, "output": "", "shell": ""}
            jobs.append(job)
        elif job is not None and line.strip().startswith("wildcards:"):
            job["wildcards"] = dict(kv.split("=", 1) for kv in line.split(":", 1)[1].strip().split(", "))
        elif job is not None and line.strip().startswith("output:"):
            job["output"] = line.split(":", 1)[1].strip()
        elif job is not None and line.startswith("Shell command:"):
            job["shell"] = line.split(":", 1)[1].strip()
    return jobs


def json_arg(shell: str, option: str) -> dict:
    return json.loads(re.search(rf"{option} '([^']*)'", shell).group(1))


def arch_arg(shell: str) -> str:
    return re.search(r"--arch (\S+)", shell).group(1)


@pytest.fixture(scope="module")
def paper_jobs(tmp_path_factory):
    return dry_run_jobs(tmp_path=tmp_path_factory.mktemp("paper"))


@pytest.fixture(scope="module")
def paper_cfg():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def of(jobs, rule, **wildcards):
    return [j for j in jobs if j["rule"] == rule and all(j["wildcards"].get(k) == v for k, v in wildcards.items())]


def test_paper_dry_run_has_every_cutoff(paper_jobs, paper_cfg):
    st = paper_cfg["cutoff_study"]
    assert st["system"] == "water" and st["arch"] == "painn" and len(st["cutoffs_A"]) >= 3
    own = paper_cfg["systems"]["water"]["models"]["painn"]["cutoff_A"]
    assert own in st["cutoffs_A"]
    new = [cutoff_model_name("painn", c) for c in st["cutoffs_A"] if c != own]
    for name in new:  # each other cutoff: its own training, simulation and observables
        for rule in ("train", "train_result", "simulate", "simulate_result"):
            assert len(of(paper_jobs, rule, system="water", model=name)) == 1, (rule, name)
        assert len(of(paper_jobs, "observables", system="water", source=name)) == 1, name
    # the architecture's own cutoff is the painn model itself: no second training
    assert not [j for j in paper_jobs if cutoff_model_name("painn", own) in j["wildcards"].values()]
    assert len(of(paper_jobs, "train", system="water", model="painn")) == 1
    # one S2 figure: the AA reference and every cutoff, named by cutoff, in increasing order
    (fig,) = of(paper_jobs, "figS2_cutoff")
    assert "figures/figS2_painn_cutoff.pdf" in fig["output"] and "figS2_painn_cutoff.png" in fig["output"]
    obs = re.search(r"--obs (.*?) --out", fig["shell"]).group(1).split()
    assert [o.split(":")[1] for o in obs] == ["aa"] + [cutoff_model_name("painn", c) for c in sorted(st["cutoffs_A"])]
    assert obs[0].endswith("/water/analysis/aa.npz")
    assert [o for o in obs if o.startswith(f"water:{cutoff_model_name('painn', own)}:")][0].endswith("/analysis/painn.npz")
    # the study models are not explained, decomposed or used by any other figure
    study_names = set(new)
    for j in paper_jobs:
        if j["rule"] not in ("train", "train_result", "simulate", "simulate_result", "observables", "figS2_cutoff"):
            assert not study_names & set(j["wildcards"].values()), j
            assert not any(f"/{n}/" in j["shell"] or f"/{n}." in j["shell"] for n in study_names), j


def test_training_of_a_study_model_is_the_architecture_at_another_cutoff(paper_jobs, paper_cfg):
    (base,) = of(paper_jobs, "train", system="water", model="painn")
    (c4,) = of(paper_jobs, "train", system="water", model="painn_c4")
    assert arch_arg(c4["shell"]) == "painn" and arch_arg(base["shell"]) == "painn"
    hp = json_arg(c4["shell"], "--hparams")
    assert hp == {**paper_cfg["systems"]["water"]["models"]["painn"], "cutoff_A": 4.0}
    assert json_arg(c4["shell"], "--params") == json_arg(base["shell"], "--params")
    assert "/water/models/painn_c4/chain/model.pt" in c4["shell"]
    (sim4,) = of(paper_jobs, "simulate", system="water", model="painn_c4")
    (sim,) = of(paper_jobs, "simulate", system="water", model="painn")
    assert json_arg(sim4["shell"], "--params") == json_arg(sim["shell"], "--params")
    (obs4,) = of(paper_jobs, "observables", system="water", source="painn_c4")
    assert re.search(r"--triplet-cutoffs 4\.0 ", obs4["shell"]), obs4["shell"]


def test_per_model_settings_of_the_architecture_apply(tmp_path):
    """The smoke tier's per_model entries of painn reach painn_c4 too (here: a painn-only override)."""
    over = tmp_path / "over.yaml"
    over.write_text(yaml.safe_dump({"train": {"per_model": {"painn": {"max_epochs": 7}}},
                                    "simulate": {"per_model": {"painn": {"n_steps": 40}}}}))
    jobs = dry_run_jobs("--configfile", "config/smoke.yaml", str(over), tmp_path=tmp_path)
    (c4,) = of(jobs, "train", system="water", model="painn_c4")
    assert arch_arg(c4["shell"]) == "painn" and json_arg(c4["shell"], "--hparams")["cutoff_A"] == 4.0
    assert json_arg(c4["shell"], "--params")["max_epochs"] == 7
    (s4,) = of(jobs, "simulate", system="water", model="painn_c4")
    assert json_arg(s4["shell"], "--params")["n_steps"] == 40
    # smoke: two cutoffs, the second the smoke PaiNN's own (5 Å): one extra model only
    assert not of(jobs, "train", model="painn_c5")
    (fig,) = of(jobs, "figS2_cutoff")
    assert "water:painn_c5:" in fig["shell"] and fig["shell"].count("water:") == 3


def test_an_empty_list_turns_the_study_off(tmp_path):
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump({"cutoff_study": {"cutoffs_A": []}}))
    jobs = dry_run_jobs("--configfile", "config/smoke.yaml", str(off), tmp_path=tmp_path)
    assert not of(jobs, "figS2_cutoff")
    assert not [j for j in jobs if any(parse_cutoff_model(v) for v in j["wildcards"].values())]


@pytest.fixture(scope="module")
def smoke_cfg(paper_cfg):
    return deep_merge(paper_cfg, yaml.safe_load((REPO / "config" / "smoke.yaml").read_text()))


def test_study_models_and_when_the_study_is_off(smoke_cfg):
    st = cutoff_study(smoke_cfg)
    assert st["models"] == [(4.0, "painn_c4"), (5.0, "painn")] and st["base_cutoff_A"] == 5.0
    assert cutoff_variants(smoke_cfg) == {"painn_c4": {"arch": "painn", "cutoff_A": 4.0}}
    for changes in ({"cutoff_study": {"system": "water", "arch": "painn", "cutoffs_A": []}},
                    {"models": ["so3net", "schnet"]},                        # PaiNN is not trained
                    {"systems": {"water": {"enabled": False}}}):             # water does not run
        cfg = deep_merge(smoke_cfg, changes)
        assert cutoff_study(cfg) is None and cutoff_variants(cfg) == {}
    cfg = copy.deepcopy(smoke_cfg)
    del cfg["cutoff_study"]
    assert cutoff_study(cfg) is None
    validate_config(cfg, "no study")  # the section is optional
    # a disabled study system is no error (overlays that leave water out need no second change)
    validate_config(deep_merge(smoke_cfg, {"systems": {"water": {"enabled": False}}, "imc": {"systems": ["methane"]}}),
                    "water off")


@pytest.mark.parametrize("cutoff,name", [(4, "painn_c4"), (4.0, "painn_c4"), (4.5, "painn_c4p5"),
                                         (6.25, "painn_c6p25")])
def test_model_names(cutoff, name):
    assert cutoff_model_name("painn", cutoff) == name
    assert parse_cutoff_model(name) == ("painn", float(cutoff))


def test_names_that_are_no_study_model():
    for name in ("painn", "so3net", "aa", "imc", "painn_c", "painn_4"):
        assert parse_cutoff_model(name) is None


def test_a_bad_study_is_refused_with_one_line(smoke_cfg):
    with pytest.raises(ParamsError) as info:
        validate_config(deep_merge(smoke_cfg, {"cutoff_study": {"cutoffs_A": [4.0, 12.0]}}), "merged config")
    assert str(info.value).startswith("merged config: invalid value at 'cutoff_study.cutoffs_A.1': 12.0 Å exceeds")


# the figure


def _obs(path, shift):
    r = np.linspace(0.05, 8.45, 85)
    a = np.linspace(1, 179, 90)
    q = np.linspace(-0.99, 0.99, 100)
    np.savez(path, rdf_r=r, rdf_g=1 + np.exp(-(r - 2.8 - shift) ** 2), angle_centres=a,
             angle_density=np.exp(-(a - 100 - 20 * shift) ** 2 / 200) / 25, q_centres=q,
             q_density=np.exp(-(q - 0.5) ** 2 / 0.1), n_frames=np.asarray(3))


def test_the_figure_draws_from_observables_files(tmp_path, capsys):
    args = []
    for src, shift in (("aa", 0.0), ("painn_c7", 0.05), ("painn_c4", 0.6), ("painn_c5p5", 0.3)):
        _obs(tmp_path / f"{src}.npz", shift)
        args.append(f"water:{src}:{tmp_path / f'{src}.npz'}")
    assert plots.main(["cutoff", "--obs", *args, "--out", str(tmp_path / "fig" / "s2.pdf")]) == 0
    for ext in ("pdf", "png"):
        assert (tmp_path / "fig" / f"s2.{ext}").stat().st_size > 1000
    lines = [line for line in capsys.readouterr().err.splitlines() if "RDF RMS vs AA" in line]
    assert [line.split()[2] for line in lines] == ["4", "5.5", "7"]  # increasing cutoff, "PaiNN 4 Å"
    rms = [float(re.search(r"RDF RMS vs AA ([\d.]+)", line).group(1)) for line in lines]
    assert rms[0] > rms[1] > rms[2] > 0


def test_structure_deviation():
    r = np.linspace(0, 8, 81)
    a = np.linspace(1, 179, 90)
    ref = {"rdf_r": r, "rdf_g": np.ones_like(r), "angle_centres": a, "angle_density": np.full_like(a, 1 / 180)}
    same = plots.structure_deviation(ref, ref)
    assert same == (0.0, 0.0)
    off = {**ref, "rdf_g": ref["rdf_g"] + 0.1, "angle_density": np.zeros_like(a)}
    rms, l1 = plots.structure_deviation(off, ref)
    assert rms == pytest.approx(0.1) and l1 == pytest.approx(1.0)


def test_the_figure_refuses_sources_without_a_cutoff(tmp_path):
    _obs(tmp_path / "aa.npz", 0.0)
    _obs(tmp_path / "p.npz", 0.1)
    with pytest.raises(ValueError, match="is not <arch>_c<cutoff>"):
        plots.main(["cutoff", "--obs", f"water:aa:{tmp_path / 'aa.npz'}", f"water:painn:{tmp_path / 'p.npz'}",
                    "--out", str(tmp_path / "x.pdf")])
    with pytest.raises(ValueError, match="needs an 'aa' source"):
        plots.main(["cutoff", "--obs", f"water:painn_c4:{tmp_path / 'p.npz'}", "--out", str(tmp_path / "x.pdf")])
