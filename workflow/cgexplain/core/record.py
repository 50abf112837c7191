"""Reproducibility record of a workflow run: what produced the results next to it.

``cgexplain record`` (the ``run_record`` rule, written once every other final output exists) writes
``<results>/run_record.yaml`` with

* the resolved (merged) config and the config files it came from, and every seed in it;
* the versions of Python, of ``cgexplain`` (and where it is imported from) and of every package it
  depends on (all extras, read from the installed distribution's metadata), with the pins of
  ``pyproject.toml`` that the installed versions do not match;
* the git revision of the workflow (and whether its tracked files differ from it: ``dirty``), or
  ``unknown`` outside a git checkout;
* the machine: host, CPU model and count, the CUDA devices torch sees, the OpenMM platforms;
* how the jobs were deployed (Snakemake's ``--use-conda`` …) and the SHA-256 of each ``envs/*.yaml``:
  with ``--use-conda`` every stage ran in the environment its file pins, not in the one recorded
  under ``packages`` (that of the Snakemake process).

``.json`` output is written as JSON, anything else as YAML.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata as md
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import yaml

FORMAT = 1
UNKNOWN = "unknown"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_PIN = re.compile(r"==\s*([^;,\s]+)")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_pins(dist: str = "cgexplain") -> dict[str, str | None]:
    """Every package ``dist`` requires (core and all extras, self-references dropped): canonical
    name -> its ``==`` pin (None where not pinned)."""
    try:
        reqs = md.requires(dist) or []
    except md.PackageNotFoundError:
        return {}
    out: dict[str, str | None] = {}
    for req in reqs:
        m = _NAME.match(req)
        if not m or _canon(m.group(1)) == _canon(dist):
            continue
        pin = _PIN.search(req.split(";")[0])
        out.setdefault(_canon(m.group(1)), pin.group(1) if pin else None)
    return out


def _version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def package_versions() -> tuple[dict, dict]:
    """(installed versions: name -> version or None when not installed, pins not met)."""
    pins = dependency_pins()
    versions = {"cgexplain": _version("cgexplain")}
    mismatched = {}
    for name in sorted(pins):
        v = versions[name] = _version(name)
        # a pin without a local label (2.13.0) is met by any local build of it (2.13.0+cpu), as in pip
        if pins[name] is not None and v is not None and v != pins[name] and v.split("+")[0] != pins[name]:
            mismatched[name] = {"pinned": pins[name], "installed": v}
    return versions, mismatched


def git_info(path: str | Path) -> dict:
    """Revision of the git checkout holding ``path``, whether its tracked files differ from it and
    which; every field ``unknown`` outside git (or without a git executable)."""

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=60)
        if r.returncode:
            raise RuntimeError(r.stderr.strip())
        return r.stdout

    try:
        revision = git("rev-parse", "HEAD").strip()
        root = git("rev-parse", "--show-toplevel").strip()
        # porcelain lines are "XY path" (a rename: "XY old -> new"); the leading status may be a space
        changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line]
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return {"revision": UNKNOWN, "dirty": UNKNOWN, "root": UNKNOWN}
    return {"revision": revision, "dirty": bool(changed), "root": root, "changed_files": changed[:200]}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or UNKNOWN


def _cuda() -> dict:
    try:
        import torch
    except ImportError:
        return {"torch": "not installed"}
    info = {"available": bool(torch.cuda.is_available()), "cuda_version": torch.version.cuda}
    if info["available"]:
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def _openmm() -> dict:
    try:
        import openmm
    except ImportError:
        return {"openmm": "not installed"}
    P = openmm.Platform
    info = {"platforms": [P.getPlatform(i).getName() for i in range(P.getNumPlatforms())]}
    failures = [" ".join(str(f).split())[:300] for f in P.getPluginLoadFailures()]
    if failures:
        info["plugin_load_failures"] = failures
    return info


def device_info() -> dict:
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count()
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": {"model": _cpu_model(), "machine": platform.machine(), "count": os.cpu_count(),
                "available": available},
        "cuda": _cuda(),
        "openmm": _openmm(),
    }


def seeds(cfg, prefix: str = "") -> dict:
    """Every ``seed`` / ``*_seed`` key of the config, by dotted path."""
    out = {}
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(k, str) and (k == "seed" or k.endswith("_seed")) and not isinstance(v, (dict, list)):
                out[path] = v
            else:
                out.update(seeds(v, path))
    elif isinstance(cfg, list):
        for i, v in enumerate(cfg):
            out.update(seeds(v, f"{prefix}.{i}"))
    return out


def env_files(workflow_dir: str | Path) -> dict:
    """SHA-256 of each ``envs/*.yaml`` of the workflow (the per-stage conda environments)."""
    envs = Path(workflow_dir) / "envs"
    return {f.stem: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(envs.glob("*.yaml"))}


def make_record(config: dict, workflow_dir: str | Path = ".", configfiles=(), deployment=()) -> dict:
    """The record of a run of the workflow in ``workflow_dir`` with the merged ``config``."""
    import cgexplain

    versions, mismatched = package_versions()
    return {
        "format": FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tier": config.get("tier", UNKNOWN),
        "results": config.get("results", UNKNOWN),
        "git": git_info(workflow_dir),
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "cgexplain": {"version": cgexplain.__version__, "path": str(Path(cgexplain.__file__).resolve().parent)},
        "packages": versions,
        "pins_not_met": mismatched,
        "seeds": seeds(config),
        "device": {"requested": config.get("device", UNKNOWN), **device_info()},
        "deployment": {"methods": sorted(deployment) or ["none"], "conda_envs": env_files(workflow_dir)},
        "configfiles": [str(f) for f in configfiles],
        "config": config,
    }


def write_record(record: dict, out: str | Path) -> Path:
    """Write ``record`` atomically: JSON for ``.json``, else YAML (keys in the record's order)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix == ".json":
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    else:
        tmp.write_text("# cgexplain run record: what produced the results in this folder (cgexplain.core.record)\n"
                       + yaml.safe_dump(record, sort_keys=False, default_flow_style=False, width=120))
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    from .config import ParamsError, load_params

    ap = argparse.ArgumentParser(prog="cgexplain record", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="the merged config: JSON object or a YAML/JSON file")
    ap.add_argument("--out", required=True, type=Path, help="record file (.yaml, or .json)")
    ap.add_argument("--workflow-dir", default=".", help="the workflow's folder (git revision, envs/)")
    ap.add_argument("--configfile", nargs="*", default=[], help="config files the config was merged from")
    ap.add_argument("--deployment", nargs="*", default=[], help="Snakemake deployment methods (conda, ...)")
    a = ap.parse_args(argv)
    try:
        cfg = load_params(a.config, what="config")
    except ParamsError as e:
        print(f"cgexplain record: error: {e}", file=sys.stderr)
        return 2
    rec = make_record(cfg, a.workflow_dir, a.configfile, a.deployment)
    write_record(rec, a.out)
    print(f"run record: {a.out} (revision {rec['git']['revision']}, dirty {rec['git']['dirty']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
