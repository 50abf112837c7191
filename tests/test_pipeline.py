"""The workflow as a user runs it: config validation, the paper-scale dry run, lint, and the whole
smoke tier end to end through snakemake in a temporary copy of the repository."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = {"reference_md", "cg_map", "cg_import", "fetch_source", "fit_prior", "train", "simulate", "observables", "relevance", "imc", "imc_sim",
          "manybody", "fig2_rdf", "figS1_structure", "figS7_triplets", "fig2_relevance", "fig3_relevance",
          "figS5S6_walks2", "figS9_threebody", "figS10_triplet_occurrence", "figS1_imc", "figS3_schnet",
          "figS4_manybody", "protein_states", "protein_fes", "relevance_state", "relevance_mutant",
          "relevance_maps", "fig4_fes", "fig5_relevance_maps", "fig6_strongest", "fig7_mutations", "figS11_contacts",
          "figS2_cutoff"}


def snakemake(*args, cwd=REPO, timeout=600, env=None):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


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
    # the lite tier's NTL9 is the Gō model; the implicit-solvent one is the GPU overlay's
    lite = deep_merge(base, yaml.safe_load((REPO / "config" / "lite.yaml").read_text()))
    assert enabled_systems(lite) == ["methane", "water", "mw_water", "ntl9_go"]
    gpu = deep_merge(lite, yaml.safe_load((REPO / "config" / "overlays" / "implicit_ntl9.yaml").read_text()))
    assert "ntl9" in enabled_systems(gpu) and gpu["systems"]["ntl9"]["data"]["route"] == "openmm"
    assert gpu["systems"]["ntl9"]["md"]["production_ps"] == 2000.0


FIGURES = {"fig2_rdf", "figS1_structure_nnp", "figS7_triplets", "fig2_relevance_aa", "fig2_relevance_cg",
           "fig3_relevance_aa", "fig3_relevance_cg", "figS5S6_walks2_methane", "figS5S6_walks2_water",
           "figS9_threebody_methane", "figS9_threebody_water", "figS10_triplet_occurrence_methane",
           "figS10_triplet_occurrence_water", "figS1_imc_baseline", "figS3_schnet", "figS4_manybody",
           "fig4_fes_ntl9", "fig5_relevance_maps_ntl9", "fig6_strongest_ntl9", "fig7_mutations_ntl9",
           "figS11_contacts_ntl9", "figS2_painn_cutoff",
           "fig4_fes_ntl9_go", "fig5_relevance_maps_ntl9_go", "fig6_strongest_ntl9_go", "fig7_mutations_ntl9_go",
           "figS11_contacts_ntl9_go", "truth_ntl9_go_painn",
           "figS5S6_walks2_mw_water", "figS9_threebody_mw_water", "figS10_triplet_occurrence_mw_water",
           "truth_mw_water_painn", "truth_mw_water_so3net"}


def declared_outputs(work: Path, *configfiles: str) -> dict[str, str]:
    """Every output file of the DAG, as Snakemake itself lists it (``--summary``: one row per file with
    its rule and status), {path: status}."""
    r = snakemake("--configfile", *configfiles, "--summary", cwd=work)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [line.split("\t") for line in r.stdout.splitlines() if line.strip()]
    assert lines and lines[0][:5] == ["output_file", "date", "rule", "log-file(s)", "status"], r.stdout[:500]
    return {row[0]: row[4] for row in lines[1:]}


def image_problem(path: Path) -> str | None:
    """Why ``path`` is not a figure of non-trivial content (None if it is): a PNG is opened as an image
    and must show more than a blank or one-colour canvas; a PDF must be a whole PDF file; the PyMOL,
    ChimeraX and PDB files beside Figure 6 must hold text."""
    if path.suffix == ".png":
        import matplotlib.image as mpimg

        img = mpimg.imread(path)[..., :3]
        if min(img.shape[:2]) < 100:
            return f"{img.shape[1]}×{img.shape[0]} pixels"
        pixels = (img.reshape(-1, 3) * 255).astype(np.uint8)
        _, counts = np.unique(pixels, axis=0, return_counts=True)
        drawn = 1.0 - counts.max() / len(pixels)  # pixels not of the background colour
        if img.std() < 0.05 or drawn < 0.03:
            return f"nearly blank (pixel std {img.std():.3f}, {100 * drawn:.1f} % drawn)"
        return None
    data = path.read_bytes()
    if path.suffix == ".pdf":
        return None if data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:] and len(data) > 1000 else \
            "not a whole PDF file"
    return None if len(data.strip()) > 100 else f"{len(data)} bytes"


def check_declared_outputs(work: Path, configfile: str) -> dict[str, str]:
    """Every output the DAG declares exists, run_record.yaml and every figure of FIGURES among them, and
    every figure file is an image of non-trivial content. Returns the declared outputs."""
    outputs = declared_outputs(work, configfile)
    results = yaml.safe_load((work / configfile).read_text())["results"]
    assert f"{results}/run_record.yaml" in outputs
    missing = sorted(f for f in outputs if not (work / f).exists())
    assert not missing, f"{len(missing)} of {len(outputs)} declared outputs missing: {missing[:10]}"
    figures = sorted(f for f in outputs if f.startswith(f"{results}/figures/"))
    stems = {Path(f).stem for f in figures}
    assert FIGURES <= stems, f"figures not declared: {sorted(FIGURES - stems)}"
    for name in FIGURES:
        assert {f"{results}/figures/{name}.pdf", f"{results}/figures/{name}.png"} <= set(figures), name
    bad = {f: why for f in figures if (why := image_problem(work / f))}
    assert not bad, bad
    return outputs


def test_declared_outputs_check_fails_on_a_missing_or_blank_figure(tmp_path):
    """The end-to-end check is alive: on a DAG that has not run it finds every output missing, and a
    blank PNG or a truncated PDF is not taken for a figure."""
    (tmp_path / "repo").mkdir()
    work = copy_repo(tmp_path / "repo")
    outputs = declared_outputs(work, "config/smoke.yaml")
    assert len(outputs) > 100 and "results/smoke/run_record.yaml" in outputs
    assert {f"results/smoke/figures/{n}.png" for n in FIGURES} <= set(outputs)
    with pytest.raises(AssertionError, match="declared outputs missing"):
        check_declared_outputs(work, "config/smoke.yaml")
    import matplotlib.pyplot as plt

    plt.imsave(tmp_path / "blank.png", np.ones((300, 400, 3)))
    assert "nearly blank" in image_problem(tmp_path / "blank.png")
    fig, ax = plt.subplots()
    ax.plot(np.sin(np.linspace(0, 9, 200)))
    fig.savefig(tmp_path / "drawn.png", dpi=100)
    fig.savefig(tmp_path / "drawn.pdf")
    plt.close(fig)
    assert image_problem(tmp_path / "drawn.png") is None and image_problem(tmp_path / "drawn.pdf") is None
    (tmp_path / "cut.pdf").write_bytes((tmp_path / "drawn.pdf").read_bytes()[:-2000])
    assert image_problem(tmp_path / "cut.pdf") == "not a whole PDF file"


@pytest.mark.slow
def test_smoke_tier_end_to_end(smoke_run):
    """The whole smoke tier (run once per session: the fixture smoke_run in tests/conftest.py): every
    output the DAG declares exists and every figure is an image; NTL9's prior, model, CG run and tables."""
    work = smoke_run
    cfg = yaml.safe_load((work / "config" / "smoke.yaml").read_text())
    figs = work / cfg["results"] / "figures"
    outputs = check_declared_outputs(work, "config/smoke.yaml")
    assert len(outputs) > 150
    record = yaml.safe_load((work / cfg["results"] / "run_record.yaml").read_text())
    assert record["config"]["tier"] == "smoke" and record["configfiles"][-1] == "config/smoke.yaml"
    # NTL9 (own generator, offline): prior, delta-learned model with the prior inside, CG trajectories
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
    # mW water (ground truth): relevance per distance and (θ, L) bin against the true 2- and 3-body energies,
    # and the exact many-body decomposition beside the models' in Figure S4
    mw = work / cfg["results"] / "mw_water"
    for model in ("painn", "so3net"):
        kinds = {r.split(",")[0] for r in (mw / "truth" / f"{model}.csv").read_text().splitlines()[1:]}
        assert kinds == {"bin2", "bin3"}
    with np.load(mw / "manybody" / "truth.npz") as d:
        assert len(d["pair_e2"]) > 0 and d["e2_mean"][d["e2_count"] > 0].min() < -3.0  # the φ2 well, −6.2 kcal/mol
    # nothing left to do: a second invocation is a no-op
    r2 = snakemake("-n", "--configfile", "config/smoke.yaml", cwd=work)
    assert "Nothing to be done" in r2.stdout + r2.stderr
