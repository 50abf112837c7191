"""Parameters handed from the Snakemake rules to the package, and config validation.

Rules pass each command the part of the merged config it needs as one JSON object (``--params``), so
Snakemake reruns exactly the jobs whose parameters changed. The same loader accepts a YAML/JSON file.
"""

from __future__ import annotations

import json
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


def schema_path() -> Path:
    return Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


OVERRIDABLE = ("train", "simulate")  # sections a system block and per_model entries may override


def enabled_systems(cfg: dict) -> list[str]:
    """Keys of the system blocks that run (``enabled`` defaults to true), in config order."""
    return [k for k, v in cfg["systems"].items() if v.get("enabled", True)]


def system_models(cfg: dict, key: str) -> list[str]:
    """Architectures that system ``key`` trains: those of its ``models`` block listed in ``models``."""
    own = cfg["systems"][key]["models"]
    return [m for m in cfg["models"] if m in own]


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


def _override_schema(section_schema: dict, with_per_model: bool) -> dict:
    """The schema of an override of a section: the same keys and limits, none required."""
    props = dict(section_schema["properties"])
    per_model = props.pop("per_model", None)
    over = {"type": "object", "additionalProperties": False, "properties": props}
    if per_model is not None and with_per_model:
        return {**over, "properties": {**props, "per_model": {**per_model, "additionalProperties": over}}}
    return over


def _first_error(schema: dict, value, source: str, prefix: list, definitions: dict | None = None) -> None:
    import jsonschema

    if definitions is not None:
        schema = {**schema, "definitions": definitions}
    v = jsonschema.Draft202012Validator(schema)
    errors = sorted(v.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in [*prefix, *e.absolute_path]) or "<top level>"
        raise ParamsError(f"{source}: invalid value at '{where}': {e.message}")


def validate_config(cfg: dict, source: str = "config") -> None:
    """Validate a merged config; raise one line naming the bad key.

    Three layers: the workflow schema; each system block against the keys common to all systems plus
    those its system module declares (``config_schema``), and its train/simulate overrides (and every
    ``per_model`` entry) against the keys of their sections; then the limits that tie keys together.
    """
    from .systems import get_system

    schema = yaml.safe_load(schema_path().read_text())
    _first_error(schema, cfg, source, [])
    sections, defs = schema["properties"], schema["definitions"]
    for sec in OVERRIDABLE:
        _first_error({"type": "object", "properties": {"per_model": {
            "type": "object", "additionalProperties": _override_schema(sections[sec], False)}}},
            cfg[sec], source, [sec], defs)
    common = schema["definitions"]["system"]
    for key, block in cfg["systems"].items():
        name = block.get("system", key)
        try:
            system = get_system(name)
        except KeyError as e:
            raise ParamsError(f"{source}: invalid value at 'systems.{key}.system': {e.args[0]}") from None
        own = system.config_schema
        full = {"type": "object", "additionalProperties": False,
                "required": list(common["required"]) + list(own.get("required", [])),
                "properties": {**common["properties"], **own.get("properties", {}),
                               **{sec: _override_schema(sections[sec], True) for sec in OVERRIDABLE}}}
        _first_error(full, block, source, ["systems", key], defs)
        for where, msg in system.config_errors(block)[:1]:
            raise ParamsError(f"{source}: invalid value at 'systems.{key}.{where}': {msg}")
    _check_cross_keys(cfg, source)


def _check_cross_keys(cfg: dict, source: str) -> None:
    """Limits that depend on several keys or on a system's geometry."""
    from .systems import get_system

    def fail(where: str, msg: str):
        raise ParamsError(f"{source}: invalid value at '{where}': {msg}")

    run = enabled_systems(cfg)
    if not run:
        fail("systems", "every system has enabled: false; nothing to run")
    for key in run:
        if not system_models(cfg, key):
            fail(f"systems.{key}.models", f"none of its architectures {sorted(cfg['systems'][key]['models'])} "
                 f"is in models {cfg['models']}")
    for i, key in enumerate(cfg["imc"]["systems"]):
        if key not in run:
            fail(f"imc.systems.{i}", f"{key!r} is not a system that runs (systems: {run})")
        if "imc" not in get_system(cfg["systems"][key].get("system", key)).figures:
            fail(f"imc.systems.{i}", f"system {key!r} has no IMC baseline (not a periodic one-bead liquid)")
    for key in run:
        block = cfg["systems"][key]
        system = get_system(block.get("system", key))
        box = system.box_A(block) if system.periodic else None
        if box is None:
            continue
        half = 0.5 * float(min(box))
        for m in system_models(cfg, key):
            c = float(block["models"][m]["cutoff_A"])
            if c > half:
                fail(f"systems.{key}.models.{m}.cutoff_A", f"{c} Å exceeds half the smallest box length ({half:.2f} Å)")
        if "fluid_structure" in system.figures and float(cfg["analysis"]["rdf_max_A"]) > half:
            fail("analysis.rdf_max_A", f"{cfg['analysis']['rdf_max_A']} Å exceeds half the smallest box length "
                 f"of {key} ({half:.2f} Å)")
