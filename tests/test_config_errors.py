"""Every bad config value stops the workflow when the config is read, with one line naming the key.

Each case is a small mutation of the merged smoke config (config/config.yaml with config/smoke.yaml
merged on top, as Snakemake merges ``--configfile`` overlays): dotted paths set (or, with ``DEL``,
delete) one or a few keys; the test checks that :func:`cgexplain.validation.validate_config` raises
``ParamsError`` with one line ``merged config: invalid value at '<key path>': ...``. A few cases go
through ``snakemake -n`` as a user would run them.
"""

import copy
import re
import subprocess
import sys

import pytest
import yaml
from cgexplain.core.config import RESOURCE_STAGES, ParamsError, merge_config_files
from cgexplain.validation import validate_config
from conftest import REPO

DEL = object()  # delete the key instead of setting it
HP = {"cutoff_A": 5.0, "n_atom_basis": 8, "n_interactions": 1, "n_rbf": 4}


@pytest.fixture(scope="module")
def smoke_cfg():
    return merge_config_files(REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml")


def mutate(cfg: dict, changes: dict) -> dict:
    out = copy.deepcopy(cfg)
    for path, value in changes.items():
        *parents, last = path.split(".")
        d = out
        for k in parents:
            d = d[int(k)] if isinstance(d, list) else d.setdefault(k, {})
        if value is DEL:
            del d[last]
        else:
            d[last] = value
    return out


# (id, changes, key path named by the error, a phrase the message must contain)
CASES = [
    # typos: unknown keys anywhere (reported at their parent, the key named in the message)
    ("top-level typo", {"tierr": "smoke"}, "<top level>", "'tierr' was unexpected"),
    ("system block typo", {"systems.water.first_shel_A": 3.0}, "systems.water", "'first_shel_A' was unexpected"),
    ("system md typo", {"systems.methane.md.box": [20, 20, 20]}, "systems.methane.md", "'box' was unexpected"),
    ("per_model typo", {"simulate.per_model.painn.n_step": 5}, "simulate.per_model.painn", "'n_step' was unexpected"),
    ("system per_model typo", {"systems.water.train.per_model.painn.learning_rate": 1e-3},
     "systems.water.train.per_model.painn", "'learning_rate' was unexpected"),
    ("system override typo", {"systems.ntl9.simulate.n_step": 5}, "systems.ntl9.simulate", "'n_step' was unexpected"),
    ("per_model key not an architecture", {"simulate.per_model.mace": {"n_steps": 5}}, "simulate.per_model",
     "unknown key 'mace'"),
    ("system per_model key not an architecture", {"systems.ntl9.simulate.per_model.gnn": {"n_steps": 5}},
     "systems.ntl9.simulate.per_model", "unknown key 'gnn'"),
    ("resources unknown stage", {"resources.trian": {"mem_mb": 1000}}, "resources", "unknown key 'trian'"),
    ("resources unknown key", {"resources.train.mem": 1000}, "resources.train", "'mem' was unexpected"),
    # wrong types, out-of-range values, missing keys
    ("resources wrong type", {"resources.md.runtime": "2h"}, "resources.md.runtime", "not of type 'integer'"),
    ("wrong type", {"train.lr": "fast"}, "train.lr", "not of type 'number'"),
    ("negative", {"train.lr": -1}, "train.lr", "minimum of 0"),
    ("zero timestep", {"simulate.timestep_fs": 0}, "simulate.timestep_fs", "minimum of 0"),
    ("bool as string", {"simulate.save_forces": "yes"}, "simulate.save_forces", "not of type 'boolean'"),
    ("negative MD time", {"systems.methane.md.equilibration_ps": -1}, "systems.methane.md.equilibration_ps",
     "minimum of 0"),
    ("negative gamma", {"relevance.gamma": -0.1}, "relevance.gamma", "minimum of 0"),
    ("val_fraction 1", {"cg.val_fraction": 1.0}, "cg.val_fraction", "maximum of 1"),
    ("enum", {"device": "gpu"}, "device", "'gpu' is not one of"),
    ("missing section", {"cg": DEL}, "<top level>", "'cg' is a required property"),
    ("missing system key", {"systems.water.md.box_edge_nm": DEL}, "systems.water.md",
     "'box_edge_nm' is a required property"),
    ("ntl9 route", {"systems.ntl9.data.route": "local"}, "systems.ntl9.data.route", "'local' is not one of"),
    # architectures and systems
    ("unknown architecture", {"models": ["painn", "mace"]}, "models.1", "'mace' is not one of"),
    ("unknown architecture in a system", {"systems.water.models.mace": HP}, "systems.water.models",
     "unknown key 'mace'"),
    ("system trains nothing", {"models": ["so3net"]}, "systems.ntl9.models", "none of its architectures"),
    ("manybody model not run", {"models": ["painn", "so3net"], "manybody.models": ["schnet"]}, "manybody.models.0",
     "'schnet' is not in models"),
    ("unknown system module", {"systems.argon": {"temperature_K": 90.0, "models": {"painn": HP}}},
     "systems.argon.system", "unknown system 'argon'"),
    ("system module typo", {"systems.water.system": "watr"}, "systems.water.system", "unknown system 'watr'"),
    ("dotted system module missing", {"systems.water.system": "my_pkg.my_liquid"}, "systems.water.system",
     "cannot import system module 'my_pkg.my_liquid'"),
    ("nothing runs", {f"systems.{s}.enabled": False for s in ("methane", "water", "ntl9", "ntl9_go", "mw_water")}, "systems",
     "nothing to run"),
    # imc.systems must run and have an IMC baseline
    ("imc system disabled", {"systems.water.enabled": False}, "imc.systems.1", "'water' is not a system that runs"),
    ("imc system unknown", {"imc.systems": ["argon"]}, "imc.systems.0", "'argon' is not a system that runs"),
    ("imc system not a liquid", {"imc.systems": ["methane", "ntl9"]}, "imc.systems.1", "no IMC baseline"),
    # lengths against the periodic box
    ("model cutoff above half box", {"systems.water.models.painn.cutoff_A": 10.5},
     "systems.water.models.painn.cutoff_A", "exceeds half the smallest box length (10.00 Å)"),
    ("so3net cutoff above half box", {"systems.methane.models.so3net.cutoff_A": 9.0},
     "systems.methane.models.so3net.cutoff_A", "(8.98 Å)"),
    ("rdf_max_A above half box", {"analysis.rdf_max_A": 9.5}, "analysis.rdf_max_A", "of methane (8.98 Å)"),
    ("MD cutoff above half box", {"systems.methane.md.nonbonded_cutoff_nm": 0.95},
     "systems.methane.md.nonbonded_cutoff_nm", "OpenMM"),
    ("box shrunk below MD cutoff", {"systems.water.md.box_edge_nm": 1.6}, "systems.water.md.nonbonded_cutoff_nm",
     "(0.8000 nm)"),
    ("first shell above half box", {"systems.water.first_shell_A": 10.5}, "systems.water.first_shell_A",
     "exceeds half the smallest box length"),
    ("ntl9 MD cutoff too short", {"systems.ntl9.md.nonbonded_cutoff_nm": 0.1}, "systems.ntl9.md.nonbonded_cutoff_nm",
     "minimum of 0.5"),
    # frame counts
    ("no AA frames explained", {"relevance.n_frames_aa": 0}, "relevance.n_frames_aa", "minimum of 1"),
    ("no CG frames explained", {"relevance.n_frames_cg": 0}, "relevance.n_frames_cg", "minimum of 1"),
    ("no analysis frames", {"analysis.n_frames": 0}, "analysis.n_frames", "minimum of 1"),
    ("no state frames", {"protein.n_frames_per_state": 0}, "protein.n_frames_per_state", "minimum of 1"),
    ("no manybody frames", {"manybody.n_frames": 0}, "manybody.n_frames", "minimum of 1"),
    # save intervals against run lengths (layered simulate parameters, reference MD)
    ("save_interval above n_steps", {"simulate.save_interval": 1000}, "simulate.save_interval",
     "exceeds n_steps (100, set at simulate.n_steps)"),
    ("per_model n_steps below save_interval", {"simulate.per_model.so3net.n_steps": 5},
     "simulate.per_model.so3net.n_steps", "model so3net"),
    ("system per_model n_steps below save_interval", {"systems.ntl9.simulate.per_model.painn.n_steps": 5},
     "systems.ntl9.simulate.per_model.painn.n_steps", "system ntl9, model painn"),
    ("MD save interval above production", {"systems.water.md.save_interval_ps": 10.0},
     "systems.water.md.save_interval_ps", "exceeds production_ps"),
    ("MD save interval below timestep", {"systems.methane.md.save_interval_ps": 0.001},
     "systems.methane.md.save_interval_ps", "shorter than one timestep"),
    ("MD key missing for the openmm route", {"systems.ntl9.md.production_ps": DEL}, "systems.ntl9.md",
     "'production_ps' is required"),
    ("ntl9 without replicas", {"systems.ntl9.md.n_folded": 0, "systems.ntl9.md.n_unfolded": 0},
     "systems.ntl9.md.n_folded", "at least one replica"),
    ("imc save interval above production", {"imc.save_interval": 5000}, "imc.save_interval",
     "exceeds production_steps"),
    # temperature bands: [low, high] with low < 1 < high
    ("MD band low above 1", {"md.temperature_band": [1.2, 2.0]}, "md.temperature_band.0", "maximum of 1"),
    ("simulate band high below 1", {"simulate.temperature_band": [0.5, 0.9]}, "simulate.temperature_band.1",
     "minimum of 1"),
    ("band of one value", {"md.temperature_band": [0.5]}, "md.temperature_band", "is too short"),
    ("system simulate band", {"systems.water.simulate": {"temperature_band": [0.5, 1.0]}},
     "systems.water.simulate.temperature_band.1", "minimum of 1"),
    # other limits between keys
    ("min_lr above lr", {"train.min_lr": 0.01}, "train.min_lr", "exceeds lr"),
    ("per_model lr below min_lr", {"systems.methane.train": {"per_model": {"so3net": {"lr": 1e-7}}}},
     "systems.methane.train.per_model.so3net.lr", "is below min_lr"),
    ("states out of order", {"protein.broken": 0.8}, "protein.broken", "exceeds formed (0.7)"),
    ("imc grid empty", {"imc.rdf_min_nm": 1.0}, "imc.rdf_min_nm", "below rdf_max_nm"),
    ("imc step above range", {"imc.rdf_step_nm": 1.0}, "imc.rdf_step_nm", "exceeds the RDF range"),
    ("imc table begins past the grid", {"imc.table_begin_nm": 1.0}, "imc.table_begin_nm", "below rdf_max_nm"),
    ("mutation residue", {"systems.ntl9.mutations": ["LEU4ASN"]}, "systems.ntl9.mutations.0", "residue 4 is ILE"),
    ("mutation syntax", {"systems.ntl9.mutations": ["L30F"]}, "systems.ntl9.mutations.0", "does not match"),
    ("residue range reversed", {"systems.ntl9.data.residues": [39, 1]}, "systems.ntl9.data.residues",
     "not a range"),
    # the cutoff study (Supplementary Fig. S2)
    ("study cutoff above half box", {"cutoff_study.cutoffs_A": [4.0, 10.5]}, "cutoff_study.cutoffs_A.1",
     "10.5 Å exceeds half the smallest box length of water (10.00 Å)"),
    ("study cutoff zero", {"cutoff_study.cutoffs_A": [0.0, 5.0]}, "cutoff_study.cutoffs_A.0",
     "less than or equal to the minimum of 0"),
    ("study cutoff negative", {"cutoff_study.cutoffs_A": [5.0, -4.0]}, "cutoff_study.cutoffs_A.1",
     "less than or equal to the minimum of 0"),
    ("study cutoff twice", {"cutoff_study.cutoffs_A": [4.0, 5.0, 4]}, "cutoff_study.cutoffs_A",
     "non-unique elements"),
    ("study cutoffs not a list", {"cutoff_study.cutoffs_A": 4.0}, "cutoff_study.cutoffs_A", "not of type 'array'"),
    ("study system unknown", {"cutoff_study.system": "watr"}, "cutoff_study.system",
     "'watr' is not a system block"),
    ("study system not a liquid", {"cutoff_study.system": "ntl9"}, "cutoff_study.system",
     "no RDF and local-angle observables"),
    ("study architecture unknown", {"cutoff_study.arch": "mace"}, "cutoff_study.arch", "'mace' is not one of"),
    ("study architecture not in the system", {"systems.water.models.schnet": DEL, "cutoff_study.arch": "schnet"},
     "cutoff_study.arch", "'schnet' has no hyper-parameters in systems.water.models"),
    ("study key typo", {"cutoff_study.cutoff_A": [4.0]}, "cutoff_study", "'cutoff_A' was unexpected"),
    ("study key missing", {"cutoff_study.arch": DEL}, "cutoff_study", "'arch' is a required property"),
    # Figure 3's mask
    ("min triplets zero", {"relevance.min_triplets_per_bin": 0}, "relevance.min_triplets_per_bin", "minimum of 1"),
    ("min triplets fraction", {"relevance.min_triplets_per_bin": 2.5}, "relevance.min_triplets_per_bin",
     "not of type 'integer'"),
    ("min triplets missing", {"relevance.min_triplets_per_bin": DEL}, "relevance",
     "'min_triplets_per_bin' is a required property"),
]


@pytest.mark.parametrize("changes,where,phrase", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_fails_with_one_line_naming_the_key(smoke_cfg, changes, where, phrase):
    with pytest.raises(ParamsError) as info:
        validate_config(mutate(smoke_cfg, changes), "merged config")
    msg = str(info.value)
    assert "\n" not in msg and "\r" not in msg, msg
    assert msg.startswith(f"merged config: invalid value at '{where}': "), msg
    assert phrase in msg, msg


def test_the_cases_start_from_a_valid_config(smoke_cfg):
    validate_config(copy.deepcopy(smoke_cfg), "smoke")
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


def test_resource_stages_are_exactly_those_the_rules_request():
    """RESOURCE_STAGES (what `resources` may name) is the set of stages of the rules' res() calls."""
    text = "\n".join(line.split("#")[0] for p in sorted((REPO / "workflow" / "rules").glob("*.smk"))
                     for line in p.read_text().splitlines())  # code only, not comments
    calls = re.findall(r"\bres\(([^,()]*),", text)  # the first argument of each res(stage, key)
    assert calls, "no res() calls found in workflow/rules/*.smk"
    stages = set()
    for arg in calls:
        arg = arg.strip()
        if arg == "stage":  # the definition in common.smk
            continue
        m = re.fullmatch(r"""["']([A-Za-z_]+)["']""", arg)
        assert m, f"res() called with a non-literal stage {arg!r}: RESOURCE_STAGES cannot be checked"
        stages.add(m.group(1))
    assert stages <= set(RESOURCE_STAGES), f"stages missing from RESOURCE_STAGES: {stages - set(RESOURCE_STAGES)}"
    assert set(RESOURCE_STAGES) <= stages, f"RESOURCE_STAGES that no rule requests: {set(RESOURCE_STAGES) - stages}"
    paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert set(paper["resources"]) == set(RESOURCE_STAGES)


def test_a_second_configfile_flag_replaces_the_first():
    """What the README warns about (Snakemake's argparse keeps the last --configfile flag only)."""
    from snakemake.cli import parse_args

    _, args = parse_args(["-n", "--configfile", "config/smoke.yaml", "--configfile", "mine.yaml"])
    assert [p.name for p in args.configfile] == ["mine.yaml"]
    _, args = parse_args(["-n", "--configfile", "config/smoke.yaml", "mine.yaml"])
    assert [p.name for p in args.configfile] == ["smoke.yaml", "mine.yaml"]


def snakemake_dry_run(*configfiles):
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", *configfiles],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("overlay,where", [
    ({"simulate": {"per_model": {"painn": {"n_step": 5}}}}, "simulate.per_model.painn"),
    ({"resources": {"trian": {"mem_mb": 1000}}}, "resources"),
    ({"systems": {"methane": {"md": {"nonbonded_cutoff_nm": 0.95}}}}, "systems.methane.md.nonbonded_cutoff_nm"),
    ({"cutoff_study": {"cutoffs_A": [4.0, 12.0]}}, "cutoff_study.cutoffs_A.1"),
], ids=["per_model typo", "resources stage", "MD cutoff", "study cutoff"])
def test_snakemake_prints_one_config_error_line(tmp_path, overlay, where):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**overlay, "results": str(tmp_path / "results")}))
    r = snakemake_dry_run("config/smoke.yaml", str(bad))
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"config error: merged config: invalid value at '{where}': "), r.stderr
    assert not (tmp_path / "results").exists()


def test_missing_configfile_is_reported_by_snakemake_itself():
    """Snakemake reads --configfile files before the Snakefile runs, so the workflow cannot shorten
    this error: Snakemake 9 prints a Python traceback (its `except FileNotFoundError` in
    snakemake/common/configfile.py never fires: the file is opened before the `try`). Its last line
    names the file; README.md says so."""
    r = snakemake_dry_run("config/smoke.yaml", "config/nope.yaml")
    assert r.returncode != 0
    last = (r.stdout + r.stderr).strip().splitlines()[-1]
    assert "config/nope.yaml" in last, r.stdout + r.stderr
