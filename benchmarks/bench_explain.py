"""Benchmark of ``cgexplain explain`` on SchNetPack's own models (CPU): seconds per frame.

A SchNetPack SO3net (128 features, 3 interactions, lmax 2, 20 Gaussian RBF, cosine cutoff 5 Å) and a PaiNN of
the same width, built with SchNetPack's classes, weights perturbed from SchNetPack's initialisation (so no layer
is zero), saved as SchNetPack's trainer saves ``best_model`` (the pickled ``NeuralNetworkPotential``); frames:
125 beads in the methane box 20.768 × 20.410 × 17.969 Å (random liquid-like positions, minimum distance 3 Å),
written as an XTC with a PDB topology by mdtraj. Times the whole ``explain`` call (reading, the module checks,
the energy comparison, every frame, the output file) and reports seconds per frame, float64.

    python benchmarks/bench_explain.py [--threads 2] [--frames 3] [--archs so3net painn]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cgexplain.core.compat  # noqa: E402,F401
import schnetpack as spk  # noqa: E402
from bench_lrp import BOX, liquid_positions  # noqa: E402
from cgexplain.explain import explain  # noqa: E402


def spk_model(arch: str, width: int = 128, layers: int = 3, cutoff: float = 5.0):
    rbf, fcut = spk.nn.GaussianRBF(n_rbf=20, cutoff=cutoff), spk.nn.CosineCutoff(cutoff)
    if arch == "so3net":
        rep = spk.representation.SO3net(n_atom_basis=width, n_interactions=layers, lmax=2, radial_basis=rbf,
                                        cutoff_fn=fcut)
    else:
        rep = spk.representation.PaiNN(n_atom_basis=width, n_interactions=layers, radial_basis=rbf, cutoff_fn=fcut)
    net = spk.model.NeuralNetworkPotential(
        representation=rep, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=width, output_key="energy"),
                        spk.atomistic.Forces(energy_key="energy", force_key="forces")])
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def write_frames(folder: Path, n_frames: int) -> tuple[Path, Path]:
    import mdtraj as md

    pos = np.stack([liquid_positions(seed=s) for s in range(n_frames)])
    top = md.Topology()
    chain = top.add_chain()
    for _ in range(pos.shape[1]):
        top.add_atom("C", md.element.carbon, top.add_residue("MET", chain))
    t = md.Trajectory(pos / 10.0, top, unitcell_lengths=np.tile(BOX / 10.0, (n_frames, 1)),
                      unitcell_angles=np.full((n_frames, 3), 90.0))
    t.save_xtc(str(folder / "frames.xtc"))
    t[0].save_pdb(str(folder / "beads.pdb"))
    return folder / "frames.xtc", folder / "beads.pdb"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--archs", nargs="+", default=["so3net", "painn"])
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        xtc, pdb = write_frames(tmp, a.frames)
        for arch in a.archs:
            model = tmp / f"{arch}_best_model"
            torch.save(spk_model(arch), model)
            t0 = time.perf_counter()
            res = explain(model, xtc, tmp / f"{arch}.npz", top=pdb, progress=False)
            dt = time.perf_counter() - t0
            rows.append((arch, int(res["n_walks"].mean()), len(res["frame_index"]), dt / len(res["frame_index"])))
    print(f"125-bead methane frames, SchNetPack models 128 features x 3 interactions, cutoff 5 Å, float64, "
          f"{a.threads} threads")
    print("| model (SchNetPack) | walks per frame | frames | s per frame (whole explain call) |")
    print("|---|---|---|---|")
    for arch, w, n, s in rows:
        print(f"| {arch} | {w:,} | {n} | {s:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
