"""Relevance in float32 against float64 on paper-size methane frames: how large the difference is, what it costs.

    python benchmarks/bench_precision.py [--archs painn so3net schnet] [--frames 2] [--threads 2]

The frames and models of benchmarks/bench_lrp.py (125 beads in the public demo's box, random liquid-like
positions; 128 features, 3 interactions, 20 RBF, cutoff 5 Å, random weights perturbed so that no path is
zero). Each frame is explained in both precisions from the same float64 weights; the table gives, per
architecture, the largest walk-relevance difference relative to the largest |R|, the same for the
per-pair (2-body) and per-triplet (3-body) sums, the difference of Figure 2's binned 2-body curve
(0–5 Å, 50 bins, relative to its largest |value|), the correlation of the pair relevances, and the time
per frame of each precision. Trained models are smoother than these random ones; the numbers bound what
float32 changes in a figure.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_lrp import BOX, liquid_positions
from cgexplain.core.binning import binned_mean
from cgexplain.nn.models import CGPotential, ModelConfig
from cgexplain.relevance.run import compute_frame


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["painn", "so3net", "schnet"])
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for arch in args.archs:
        torch.manual_seed(0)
        cfg = ModelConfig(arch=arch, cutoff=5.0, n_atom_basis=128, n_interactions=3, n_rbf=20, lmax=2)
        pot64 = CGPotential(cfg, z=[1] * 125).double().eval()
        with torch.no_grad():
            for p in pot64.net.parameters():
                p.add_(0.05 * torch.randn_like(p))
        pot32 = CGPotential(cfg, z=[1] * 125).float().eval()
        pot32.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in pot64.state_dict().items()})
        stats, times = [], {"float32": 0.0, "float64": 0.0}
        for f in range(args.frames):
            pos = liquid_positions(seed=f)
            res = {}
            for name, pot, dt in (("float64", pot64, torch.float64), ("float32", pot32, torch.float32)):
                t0 = time.perf_counter()
                res[name] = compute_frame(pot, pos, BOX, 0.1, dt, torch.device("cpu"), keep_walks=True)
                times[name] += time.perf_counter() - t0
            a, b = res["float64"], res["float32"]
            assert np.array_equal(a["walk_nodes"], b["walk_nodes"])
            rel = lambda x, y: float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), 1e-300))  # noqa: E731
            edges = np.linspace(0.0, 5.0, 51)
            c64 = binned_mean(a["pair_dist"], a["pair_r"], edges)[0]
            c32 = binned_mean(b["pair_dist"], b["pair_r"], edges)[0]
            ok = np.isfinite(c64) & np.isfinite(c32)
            stats.append((rel(a["walk_r"], b["walk_r"]), rel(a["pair_r"], b["pair_r"]), rel(a["trip_r"], b["trip_r"]),
                          rel(c64[ok], c32[ok]), float(np.corrcoef(a["pair_r"], b["pair_r"])[0, 1])))
        s = np.array(stats)
        rows.append((arch, s[:, 0].max(), s[:, 1].max(), s[:, 2].max(), s[:, 3].max(), s[:, 4].min(),
                     times["float32"] / args.frames, times["float64"] / args.frames))
    print(f"paper-size methane frames (125 beads, cutoff 5 Å, 128 × 3), {args.frames} frame(s), "
          f"{args.threads} CPU threads; differences relative to the largest |value| (float64)")
    print(f"{'arch':8} {'walks':>9} {'pairs':>9} {'triplets':>9} {'Fig.2 curve':>12} {'corr pairs':>11} "
          f"{'f32 s/frame':>12} {'f64 s/frame':>12}")
    for arch, w, p, t, c, r, t32, t64 in rows:
        print(f"{arch:8} {w:9.1e} {p:9.1e} {t:9.1e} {c:12.1e} {r:11.8f} {t32:12.2f} {t64:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
