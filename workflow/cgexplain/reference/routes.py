"""The steps before a system's reference data exists: fetching inputs and importing published CG data.

``cgexplain fetch`` downloads what a system's route needs (:meth:`~cgexplain.systems.System.fetch`);
``cgexplain import-data`` writes the CG dataset from published data
(:meth:`~cgexplain.systems.System.import_dataset`). Errors are one line naming what is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.config import load_params
from ..systems import get_system


def _args(prog: str, description: str, extra) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--system", required=True, help="registered system (cgexplain.systems) or a dotted module path")
    ap.add_argument("--params", required=True, help="JSON: the system's config block")
    extra(ap)
    return ap


def main_fetch(argv: list[str] | None = None) -> int:
    ap = _args("cgexplain fetch", "Download the inputs of a system's reference-data route.",
               lambda ap: ap.add_argument("--dest", required=True, type=Path))
    a = ap.parse_args(argv)
    system, cfg = get_system(a.system), load_params(a.params, what="system params")
    a.dest.mkdir(parents=True, exist_ok=True)
    try:
        system.fetch(cfg, a.dest)
    except (OSError, RuntimeError, ValueError) as e:
        print(f"cgexplain fetch: error: {e}", file=sys.stderr)
        return 2
    return 0


def main_import(argv: list[str] | None = None) -> int:
    def extra(ap):
        ap.add_argument("--source", required=True, type=Path, help="folder with the published files")
        ap.add_argument("--out", required=True, type=Path)
        ap.add_argument("--val-fraction", type=float, default=0.1)
        ap.add_argument("--seed", type=int, default=0)

    a = _args("cgexplain import-data", "Write the CG dataset from published data.", extra).parse_args(argv)
    system, cfg = get_system(a.system), load_params(a.params, what="system params")
    try:
        info = system.import_dataset(cfg, a.source, a.out, a.val_fraction, a.seed)
    except (OSError, RuntimeError, ValueError) as e:      # MajewskiError is a RuntimeError
        print(f"cgexplain import-data: error: {e}", file=sys.stderr)
        return 2
    print(f"imported {info}", file=sys.stderr)
    return 0
