"""Benchmark of the GNN-LRP engine on one paper-size methane frame (CPU).

125 beads in a 20.768 × 20.410 × 17.969 Å box, random liquid-like positions (minimum distance ~3 Å),
cutoff 5 Å; SO3net (128 features, 3 interactions, lmax 2, 20 RBF) and PaiNN of the same size with
random weights (perturbed so that no layer is zero), float64. Prints seconds per frame of the fast exact path, of the per-walk reference
path measured on a sample of walks and extrapolated to all walks, and their ratio.

    python benchmarks/bench_lrp.py [--threads 2] [--sample 20] [--archs so3net painn]
    python benchmarks/bench_lrp.py --system ntl9 --archs painn

``--system ntl9``: the folded NTL9 structure shipped in resources/ (39 Cα beads, open boundaries) with the
paper-tier NTL9 model of config/config.yaml (PaiNN, 128 features, 3 interactions, cutoff 10 Å).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from cgexplain.nn.models import CGPotential, ModelConfig
from cgexplain.relevance.engine import walk_relevance, walk_relevance_reference

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
NTL9 = "MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA"

BOX = np.array([20.768, 20.410, 17.969])


def liquid_positions(n: int = 125, dmin: float = 3.0, seed: int = 0) -> np.ndarray:
    """Random sequential addition with a minimum-image minimum distance."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, 1, 3) * BOX
        if pos:
            d = np.asarray(pos) - p
            d -= BOX * np.round(d / BOX)
            if np.min(np.linalg.norm(d, axis=1)) < dmin:
                continue
        pos.append(p)
    return np.asarray(pos)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample", type=int, default=20, help="walks timed on the reference path")
    ap.add_argument("--archs", nargs="+", default=["so3net", "painn"])
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--system", choices=["methane", "ntl9"], default="methane")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.system == "ntl9":
        from cgexplain.data.structure import ca_coordinates
        from cgexplain.core.residues import sequence_types

        pos = torch.tensor(ca_coordinates(REPO / "resources" / "ntl9" / "ntl9_folded.pdb"), dtype=torch.float64)
        box, z, cutoff = None, sequence_types(NTL9), 10.0
    else:
        pos = torch.tensor(liquid_positions(), dtype=torch.float64)
        box, z, cutoff = torch.tensor(BOX, dtype=torch.float64), [1] * len(pos), 5.0
    rows = []
    for arch in args.archs:
        cfg = ModelConfig(arch=arch, cutoff=cutoff, n_atom_basis=128, n_interactions=3, n_rbf=20, lmax=2)
        pot = CGPotential(cfg, z=z).double().eval()
        with torch.no_grad():  # SchNetPack zero-initialises some layers: make every path active
            for p in pot.net.parameters():
                p.add_(0.05 * torch.randn_like(p))
        t0 = time.perf_counter()
        res = walk_relevance(pot, pos, box, gamma=args.gamma)
        t_fast = time.perf_counter() - t0
        rng = np.random.default_rng(1)
        sample = res.walks[rng.choice(len(res.walks), size=args.sample, replace=False)]
        t0 = time.perf_counter()
        ref = walk_relevance_reference(pot, pos, box, sample, gamma=args.gamma, batch=10)
        t_ref = (time.perf_counter() - t0) / args.sample * len(res.walks)
        idx = np.array([np.flatnonzero((res.walks == w).all(1))[0] for w in sample])
        err = np.max(np.abs(res.relevance[idx] - ref)) / np.max(np.abs(res.relevance))
        rows.append((arch, res.n_edges, len(res.walks), t_fast, t_ref, t_ref / t_fast, err))
    print(f"system={args.system} threads={args.threads}  (reference extrapolated from {args.sample} walks)")
    print(f"{'arch':8} {'edges':>6} {'walks':>8} {'fast s/frame':>13} {'reference s/frame':>18} "
          f"{'ratio':>8} {'max rel err':>12}")
    for a, e, w, tf, tr, q, err in rows:
        print(f"{a:8} {e:6d} {w:8d} {tf:13.2f} {tr:18.0f} {q:8.0f} {err:12.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
