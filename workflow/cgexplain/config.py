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


def validate_config(cfg: dict, source: str = "config") -> None:
    """Validate a merged config against the workflow schema; raise one line naming the bad key."""
    import jsonschema

    schema = yaml.safe_load(schema_path().read_text())
    v = jsonschema.Draft202012Validator(schema)
    errors = sorted(v.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path) or "<top level>"
        raise ParamsError(f"{source}: invalid value at '{where}': {e.message}")
