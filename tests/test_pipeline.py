"""The workflow as a user runs it: config validation, the paper-scale dry run, lint, and the whole
smoke tier end to end through snakemake in a temporary copy of the repository."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = {"reference_md", "cg_map", "cg_import", "fetch_source", "fit_prior", "train", "simulate", "observables", "relevance", "imc", "imc_sim",
          "manybody", "fig2_rdf", "figS1_structure", "figS7_triplets", "fig2_relevance", "fig3_relevance",
          "figS5S6_walks2", "figS9_threebody", "figS10_triplet_occurrence", "figS1_imc", "figS3_schnet",
          "figS4_manybody", "protein_states", "protein_fes", "relevance_state", "relevance_mutant",
          "relevance_maps", "fig4_fes", "fig5_relevance_maps", "fig6_strongest", "fig7_mutations", "figS11_contacts",
          "figS2_cutoff"}


def snakemake(*args, cwd=REPO, timeout=600):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def copy_repo(dst: Path) -> Path:
    for name in ("Snakefile", "workflow", "config", "resources", "envs"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / name)
    return dst


def test_paper_dry_run_lists_every_stage():
    r = snakemake("-n", "--quiet", "rules")
    assert r.returncode == 0, r.stderr
    listed = {line.split()[0] for line in r.stdout.splitlines() if line.strip() and not line.startswith(("Job", "job", "-", "total"))}
    assert STAGES <= listed, STAGES - listed


def test_lint_is_clean():
    r = snakemake("--lint", "--configfile", "config/smoke.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Lints for" not in r.stdout + r.stderr


@pytest.mark.parametrize("override,expected", [
    ("train:\n  lr: -1\n", "train.lr"),
    ("train:\n  learning_rate: 0.1\n", "'learning_rate' was unexpected"),
    ("systems:\n  argon: {temperature_K: 90.0, models: {painn: {cutoff_A: 5, n_atom_basis: 8, n_interactions: 1, n_rbf: 4}}}\n",
     "unknown system 'argon'"),
    ("systems:\n  water:\n    md: {box_edge_nm: 0.8}\n", "systems.water.models.painn.cutoff_A"),
    ("imc:\n  systems: [ntl9]\n", "imc.systems.0"),
    ("train:\n  per_model:\n    painn: {lr_rate: 0.1}\n", "'lr_rate' was unexpected"),
    ("systems:\n  ntl9:\n    mutations: [LEU4ASN]\n", "systems.ntl9.mutations.0"),
])
def test_bad_config_fails_with_one_line(tmp_path, override, expected):
    bad = tmp_path / "bad.yaml"
    bad.write_text(override)
    r = snakemake("-n", "--configfile", str(bad))
    assert r.returncode != 0
    lines = [line for line in (r.stdout + r.stderr).splitlines() if "config error" in line]
    assert len(lines) == 1 and expected in lines[0], r.stdout + r.stderr


def test_tiers_are_valid_overlays():
    from cgexplain.core.config import deep_merge
    from cgexplain.validation import validate_config

    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate_config(base, "paper")
    for tier in ("smoke", "lite"):
        merged = deep_merge(base, yaml.safe_load((REPO / "config" / f"{tier}.yaml").read_text()))
        validate_config(merged, tier)
        assert merged["tier"] == tier and merged["results"] != base["results"]
        for extra in sorted((REPO / "config" / "overlays").glob("*.yaml")):  # overlays stack on any tier
            validate_config(deep_merge(merged, yaml.safe_load(extra.read_text())), f"{tier}+{extra.name}")
    off = deep_merge(base, yaml.safe_load((REPO / "config" / "overlays" / "no_ntl9.yaml").read_text()))
    from cgexplain.core.config import enabled_systems

    assert enabled_systems(off) == ["methane", "water"]


@pytest.mark.slow
def test_smoke_tier_end_to_end(tmp_path):
    work = copy_repo(tmp_path)
    r = snakemake("--cores", "2", "--configfile", "config/smoke.yaml", cwd=work, timeout=2400)
    assert r.returncode == 0, r.stderr[-5000:]
    cfg = yaml.safe_load((work / "config" / "smoke.yaml").read_text())
    figs = work / cfg["results"] / "figures"
    targets = snakemake("--configfile", "config/smoke.yaml", "--list-target-files", cwd=work)
    declared = [line for line in targets.stdout.split() if "/figures/" in line] or None
    expected = {"fig2_rdf", "figS1_structure_nnp", "figS7_triplets", "fig2_relevance_aa", "fig2_relevance_cg",
                "fig3_relevance_aa", "fig3_relevance_cg", "figS5S6_walks2_methane", "figS5S6_walks2_water",
                "figS9_threebody_methane", "figS9_threebody_water", "figS10_triplet_occurrence_methane",
                "figS10_triplet_occurrence_water", "figS1_imc_baseline", "figS3_schnet", "figS4_manybody",
                "fig4_fes_ntl9", "fig5_relevance_maps_ntl9", "fig6_strongest_ntl9", "fig7_mutations_ntl9",
                "figS11_contacts_ntl9", "figS2_painn_cutoff",
                "fig4_fes_ntl9_go", "fig5_relevance_maps_ntl9_go", "fig6_strongest_ntl9_go", "fig7_mutations_ntl9_go",
                "figS11_contacts_ntl9_go", "truth_ntl9_go_painn"}
    for name in expected:
        for ext in ("pdf", "png"):
            f = figs / f"{name}.{ext}"
            assert f.exists() and f.stat().st_size > 1000, f
    if declared:
        for f in declared:
            assert (work / f).exists(), f
    # NTL9 (own generator, offline): prior, delta-learned model with the prior inside, CG trajectories
    import numpy as np
    import torch

    res = work / cfg["results"] / "ntl9"
    assert (res / "prior" / "prior.csv").read_text().count("\n") > 10
    assert torch.load(res / "models" / "painn" / "model.pt", weights_only=False)["prior"]["kind"] == "protein_ca"
    t = np.load(res / "cgsim" / "painn" / "trajectory.npz")
    bonds = np.linalg.norm(t["coords"][..., 1:, :] - t["coords"][..., :-1, :], axis=-1)
    assert t["coords"].shape[-2:] == (39, 3) and 3.0 < bonds.min() and bonds.max() < 4.6
    # NTL9 explained: per-pair tables, and the PyMOL / ChimeraX scripts of Figure 6 name residues
    assert (res / "relevance" / "painn" / "pairs.csv").read_text().startswith("state,i,j")
    assert "distance" in (figs / "fig6_strongest_ntl9.cxc").read_text()
    # the Gō NTL9 (ground truth): its relevance against the true energies, per pair, triplet and mutant
    truth = work / cfg["results"] / "ntl9_go" / "truth"
    rows = (truth / "painn.csv").read_text().splitlines()
    assert rows[0].startswith("table,i,j,k,residues") and any(r.endswith(",planted") for r in rows)
    assert {r.split(",")[0] for r in rows[1:]} >= {"pair", "triplet", "mutant:LEU30PHE", "mutant:ILE4ASN"}
    with np.load(truth / "painn.npz") as d:
        assert int(d["stats_pair"][0]) > 0 and list(d["mutations"]) == ["LEU30PHE", "ILE4ASN"]
    # nothing left to do: a second invocation is a no-op
    r2 = snakemake("-n", "--configfile", "config/smoke.yaml", cwd=work)
    assert "Nothing to be done" in r2.stdout + r2.stderr
