# Shared helpers: config validation, paths and the JSON parameter sets handed to `cgexplain`.
import json
import sys
from pathlib import Path

from cgexplain.config import ParamsError, validate_config

try:
    validate_config(config, "merged config")
except ParamsError as e:
    sys.exit(f"config error: {e}")

RESULTS = config["results"]
SYSTEMS = list(config["systems"])
MODELS = list(config["models"])
GPU = 0 if config["device"] == "cpu" else 1
TARGETS = []  # figure files; each rule file appends its own


def all_targets(wildcards):
    return TARGETS


def to_json(d):
    """Compact JSON for a `--params '...'` shell argument."""
    return json.dumps(d, separators=(",", ":"), sort_keys=True)


def res(stage, key):
    return config["resources"].get(stage, {}).get(key, {"mem_mb": 2000, "runtime": 60}[key])


def md_params(system):
    common = {k: v for k, v in config["md"].items() if k not in ("methane", "water")}
    return to_json({**common, **config["md"][system], "seed": config["seed"]})


def _per_model(section, model):
    sec = dict(config[section])
    over = sec.pop("per_model", {}) or {}
    return {**sec, **over.get(model, {})}


def train_params(model):
    return to_json({**_per_model("train", model), "seed": config["seed"]})


def sim_params(model):
    return to_json({**_per_model("simulate", model), "seed": config["seed"]})


def arch_hparams(model, system):
    try:
        return config["architectures"][model][system]
    except KeyError:
        sys.exit(f"config error: architectures.{model}.{system} is not set (needed for models={MODELS}, systems={SYSTEMS})")


def model_cutoffs(system):
    return sorted({float(arch_hparams(m, system)["cutoff_A"]) for m in MODELS})


# analysis.smk
def observables_input(w):
    if w.source == "aa":
        return f"{RESULTS}/{w.system}/cg/dataset.npz"
    return f"{RESULTS}/{w.system}/cgsim/{w.source}/trajectory.npz"


def triplet_cutoffs(w):
    if w.source in MODELS:
        return arch_hparams(w.source, w.system)["cutoff_A"]
    return " ".join(str(c) for c in model_cutoffs(w.system))


# figures.smk
def obs_args(sources):
    return " ".join(f"{s}:{src}:{RESULTS}/{s}/analysis/{src}.npz" for s in SYSTEMS for src in sources)


def obs_files(sources):
    return [f"{RESULTS}/{s}/analysis/{src}.npz" for s in SYSTEMS for src in sources]


# relevance stage
def results_of_figure(wildcards, output):
    """The results folder of a figure rule, derived from its output ({results}/figures/x.pdf)."""
    return str(Path(output.pdf).parent.parent)


def relevance_input(wildcards):
    src = (f"{RESULTS}/{wildcards.system}/cg/dataset.npz" if wildcards.source == "aa"
           else f"{RESULTS}/{wildcards.system}/cgsim/{wildcards.model}/trajectory.npz")
    return {"model": f"{RESULTS}/{wildcards.system}/models/{wildcards.model}/model.pt", "frames": src}


def relevance_files(systems, models, source):
    return [f"{RESULTS}/{s}/relevance/{m}/{source}.npz" for s in systems for m in models]


# baselines.smk
def _obs_items(systems, sources):
    return [(s, src, f"{RESULTS}/{s}/analysis/{src}.npz") for s in systems for src in sources]


def _obs_args(items):
    return " ".join(f"--input {s} {src} {p}" for s, src, p in items)


wildcard_constraints:
    system="|".join(["methane", "water"]),
    model="|".join(["painn", "so3net", "schnet"]),
