"""Parameters handed from the Snakemake rules to the package: loading, merging, per-stage layering.

Rules pass each command the part of the merged config it needs as one JSON object (``--params``), so
Snakemake reruns exactly the jobs whose parameters changed. The same loader accepts a YAML/JSON file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Iterable

import yaml


class ParamsError(ValueError):
    """A parameter set is missing a key or has a bad value."""


def load_params(value: str | dict, required: Iterable[str] = (), what: str = "params") -> dict:
    """Parse ``value`` (a JSON object string, a path to a YAML/JSON file, or a dict)."""
    if isinstance(value, dict):
        p = dict(value)
    else:
        text = value.strip()
        if text.startswith("{"):
            try:
                p = json.loads(text)
            except json.JSONDecodeError as e:
                raise ParamsError(f"{what}: invalid JSON ({e})") from None
        else:
            path = Path(text)
            if not path.exists():
                raise ParamsError(f"{what}: {path} does not exist (expected a JSON object or a YAML/JSON file)")
            p = yaml.safe_load(path.read_text())
        if not isinstance(p, dict):
            raise ParamsError(f"{what}: expected a mapping, got {type(p).__name__}")
    missing = [k for k in required if k not in p]
    if missing:
        raise ParamsError(f"{what}: missing key(s) {', '.join(missing)}")
    return p


def deep_merge(base: dict, over: dict) -> dict:
    """Recursive dict update used for tier overlays (lists and scalars replace, dicts merge)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def merge_config_files(*paths: str | Path) -> dict:
    """The YAML config files ``paths`` merged in order with :func:`deep_merge` (the tier overlays on
    config/config.yaml, as ``--configfile config/config.yaml config/lite.yaml`` stacks them)."""
    out: dict = {}
    for path in paths:
        out = deep_merge(out, yaml.safe_load(Path(path).read_text()) or {})
    return out


OVERRIDABLE = ("train", "simulate")  # sections a system block and per_model entries may override

#: Stages of the ``resources`` section: the first argument of every ``res("<stage>", key)`` call in
#: workflow/rules/*.smk (tests/test_config_errors.py greps the rules, so the two cannot drift apart).
#: Any other name under ``resources`` is rejected when the config is read.
RESOURCE_STAGES = ("md", "train", "simulate", "analysis", "relevance", "imc", "plot")
#: What ``res(stage, key)`` requests for a stage that the config leaves out (MB, minutes, threads).
RESOURCE_DEFAULTS = {"mem_mb": 2000, "runtime": 60, "threads": 1}


def enabled_systems(cfg: dict) -> list[str]:
    """Keys of the system blocks that run (``enabled`` defaults to true), in config order."""
    return [k for k, v in cfg["systems"].items() if v.get("enabled", True)]


def system_models(cfg: dict, key: str) -> list[str]:
    """Architectures that system ``key`` trains: those of its ``models`` block listed in ``models``."""
    own = cfg["systems"][key]["models"]
    return [m for m in cfg["models"] if m in own]


def cutoff_model_name(arch: str, cutoff: float) -> str:
    """Name of the model of architecture ``arch`` trained at ``cutoff`` Å in the cutoff study:
    ``painn_c4`` (4 Å), ``painn_c4p5`` (4.5 Å). It names the model's folders like an architecture does."""
    import numpy as np

    return f"{arch}_c" + np.format_float_positional(float(cutoff), trim="-").replace(".", "p")


_CUTOFF_MODEL = re.compile(r"^(?P<arch>[a-z0-9]+)_c(?P<whole>\d+)(?:p(?P<frac>\d+))?$")


def parse_cutoff_model(name: str) -> tuple[str, float] | None:
    """(architecture, cutoff Å) of a name made by :func:`cutoff_model_name`; None for any other name."""
    m = _CUTOFF_MODEL.match(name)
    if not m:
        return None
    return m["arch"], float(m["whole"] + (f".{m['frac']}" if m["frac"] else ""))


def cutoff_study(cfg: dict) -> dict | None:
    """The cutoff study (``cutoff_study``) as it runs, or None when it is off.

    Off when the section is absent, its ``cutoffs_A`` list is empty, its system does not run
    (``enabled: false``) or the system does not train its architecture (not in ``models``). On:
    ``{"system", "arch", "base_cutoff_A", "models": [(cutoff_A, model name), ...]}`` in increasing
    cutoff; the cutoff equal to the architecture's own (``systems.<system>.models.<arch>.cutoff_A``) is
    the system's model of that architecture itself (named ``<arch>``, trained once), every other one a
    model of its own (:func:`cutoff_model_name`).
    """
    st = cfg.get("cutoff_study") or {}
    cutoffs = [float(c) for c in st.get("cutoffs_A") or []]
    key, arch = st.get("system"), st.get("arch")
    if not cutoffs or key not in enabled_systems(cfg) or arch not in system_models(cfg, key):
        return None
    base = float(cfg["systems"][key]["models"][arch]["cutoff_A"])
    models = [(c, arch if math.isclose(c, base) else cutoff_model_name(arch, c)) for c in sorted(cutoffs)]
    return {"system": key, "arch": arch, "base_cutoff_A": base, "models": models}


def cutoff_variants(cfg: dict) -> dict[str, dict]:
    """Models the cutoff study trains besides the system's own: name -> ``{"arch", "cutoff_A"}``.
    Each takes the architecture's hyper-parameters and training / simulation settings (its
    ``per_model`` entries included) with only the cutoff changed."""
    st = cutoff_study(cfg)
    if st is None:
        return {}
    return {name: {"arch": st["arch"], "cutoff_A": c} for c, name in st["models"] if name != st["arch"]}


def stage_params(cfg: dict, section: str, key: str, model: str | None = None) -> dict:
    """Parameters of ``section`` for system ``key`` and architecture ``model``.

    Later entries win: the section, its ``per_model[model]``, the system's own ``<section>`` block and
    that block's ``per_model[model]``. The simulate section's temperature defaults to the system's.
    """
    sysblock = cfg["systems"][key]
    out = {"temperature_K": sysblock["temperature_K"]} if section == "simulate" else {}
    for block in (cfg[section], sysblock.get(section) or {}):
        block = dict(block)
        over = block.pop("per_model", None) or {}
        out.update(block)
        if model is not None:
            out.update(over.get(model, {}))
    return out
