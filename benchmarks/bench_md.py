"""Reference MD throughput inside the workflow vs a bare OpenMM loop on the same system.

    python benchmarks/bench_md.py [--systems methane water] [--production-ps 20] [--threads 2]
    python benchmarks/bench_md.py --systems ntl9 --production-ps 2     # NTL9, implicit solvent (slow on CPU)
    python benchmarks/bench_md.py --systems methane --not-reproducible # md.reproducible: false (CPU threads)

The workflow number comes from `cgexplain.reference.reference_md.run_reference_md` (production loop with
state retrieval, unit conversion, HDF5 writes and checkpoints at the paper's save interval); the bare
number is `Simulation.step` on an identically built and equilibrated system. Goal: ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml
from cgexplain.reference.reference_md import make_simulation, run_reference_md
from cgexplain.systems import system_of

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=["methane", "water"])
    ap.add_argument("--production-ps", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--not-reproducible", action="store_true",
                    help="md.reproducible: false (the CPU platform uses --threads instead of one thread)")
    ap.add_argument("--platform", default="auto")
    a = ap.parse_args()
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    rows = []
    for s in a.systems:
        system = system_of(cfg, s)
        block = dict(cfg["systems"][s])
        block["md"] = {**cfg["md"], **block["md"], "platform": a.platform, "equilibration_ps": 1.0,
                       "production_ps": a.production_ps, "checkpoint_interval_ps": a.production_ps / 2,
                       "report_interval_ps": a.production_ps,
                       "reproducible": not a.not_reproducible}
        if "data" in block:  # systems with several routes: the benchmark runs the all-atom MD one
            block["data"] = {**block["data"], "route": "openmm"}
        with tempfile.TemporaryDirectory() as tmp:
            info = run_reference_md(system, block, Path(tmp) / "aa" / "replica_0.h5", 1, a.threads)
        sim = make_simulation(system, block, 1, a.threads)
        sim.minimizeEnergy(maxIterations=200)
        dt_ps = block["md"]["timestep_fs"] / 1000
        sim.step(int(1.0 / dt_ps))
        n = int(round(a.production_ps / dt_ps))
        t0 = time.perf_counter()
        sim.step(n)
        sim.context.getState(getEnergy=True)  # synchronise
        bare = n * dt_ps / 1000 / (time.perf_counter() - t0) * 86400
        rows.append((s, info["platform"], info["ns_per_day"], bare, info["ns_per_day"] / bare))
    print(f"{'system':<9} {'platform':<9} {'workflow ns/day':>16} {'bare ns/day':>12} {'ratio':>7}")
    for s, plat, wf, bare, r in rows:
        print(f"{s:<9} {plat:<9} {wf:>16.1f} {bare:>12.1f} {r:>7.3f}")


if __name__ == "__main__":
    main()
