# Shared helpers: config validation, paths and the JSON parameter sets handed to `cgexplain`.
import json
import sys

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


wildcard_constraints:
    system="|".join(["methane", "water"]),
    model="|".join(["painn", "so3net", "schnet"]),
