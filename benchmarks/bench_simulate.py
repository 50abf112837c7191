"""CG simulation throughput vs the model's raw force-call rate for the same batch.

    python benchmarks/bench_simulate.py [--arch painn schnet] [--replicas 8] [--steps 200] [--size lite]
    python benchmarks/bench_simulate.py --system ntl9 --arch painn --replicas 32 --size paper

Systems: ``water`` (258 beads in the 2 nm box, periodic) or ``ntl9`` (a 39-bead Cα chain with the NTL9
sequence, open boundaries; the model carries a ``protein_ca`` prior fitted to the synthetic frames, so the
force call is U_net + U_prior as in the workflow).

Raw rate: replicas × calls / s of `CGPotential(x, box)` (energy + autograd forces, the neighbour list
included) on a fixed batch, timed on the run's first and last frames and on three frames in between (the
cost of a call depends on the number of edges, which changes as the untrained model's dynamics move the
beads); the reference for the engine is the harmonic mean of those rates (the run's time is the sum of
its steps' times). Engine rate: replica-steps / s of `cgexplain.simulate.simulate` on the same model and
batch size (integration, wrapping, saving every 10 steps, checkpoints). Goal: ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from cgexplain.core.device import pick_device
from cgexplain.core.residues import chain_bonds, sequence_types
from cgexplain.data.dataset import load_dataset, write_dataset
from cgexplain.nn.models import CGPotential, ModelConfig, save_potential
from cgexplain.simulate import simulate

NTL9 = "MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA"

SIZES = {  # (n_atom_basis, n_interactions, n_rbf, cutoff)
    "smoke": (16, 2, 8, 5.0),
    "lite": (32, 2, 16, 6.0),
    "paper": (128, 3, 20, 7.0),
}


def water_like(n_frames: int, rng, random_forces: bool = False, n_val: int = 1) -> dict:
    """258 beads on a jittered lattice in the 2 nm water box (density of liquid water); the last ``n_val``
    frames are the validation set (benchmarks/bench_syncs.py and gpu_check.py train on random forces)."""
    L, n = 20.0, 258
    k = int(np.ceil(n ** (1 / 3)))
    g = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n] * (L / k)
    X = (g[None] + rng.normal(scale=0.2, size=(n_frames, n, 3))) % L
    F = rng.normal(size=X.shape).astype("f4") if random_forces else np.zeros_like(X, "f4")
    return {"coords": X.astype("f4"), "forces": F, "box": np.full((n_frames, 3), L, "f4"),
            "z": np.full(n, 8), "masses": np.full(n, 18.015), "train_idx": np.arange(n_frames - n_val),
            "val_idx": np.arange(n_frames - n_val, n_frames)}


def ntl9_like(n_frames: int, rng) -> dict:
    """An α-helix-like Cα chain of the NTL9 sequence (3.8 Å bonds) with thermal noise, no box."""
    n = len(NTL9)
    k = np.arange(n)
    helix = np.stack([2.3 * np.cos(np.radians(100) * k), 2.3 * np.sin(np.radians(100) * k), 1.5 * k], 1)
    X = helix[None] + rng.normal(scale=0.15, size=(n_frames, n, 3))
    return {"coords": X.astype("f4"), "forces": np.zeros_like(X, "f4"), "box": np.zeros((n_frames, 3), "f4"),
            "z": sequence_types(NTL9), "masses": np.full(n, 13.0), "train_idx": np.arange(n_frames),
            "val_idx": np.arange(1), "periodic": False, "temperature_K": 350.0, "bonds": chain_bonds(n)}


SYSTEMS = {"water": (water_like, 20.0, 300.0), "ntl9": (ntl9_like, None, 350.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["painn", "schnet", "so3net"])
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--size", choices=sorted(SIZES), default="lite")
    ap.add_argument("--system", choices=sorted(SYSTEMS), default="water")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = pick_device(a.device)
    rng = np.random.default_rng(0)
    nb, ni, nr, cut = SIZES[a.size]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make, box_len, T = SYSTEMS[a.system]
        write_dataset(tmp / "ds.npz", **make(max(16, a.replicas), rng))
        data = load_dataset(tmp / "ds.npz")
        prior = None
        if a.system == "ntl9":
            from cgexplain.priors import fit_prior

            prior = fit_prior("protein_ca", data, {"k_rep": 20.0}, T)
        for arch in a.arch:
            steps = a.steps if arch != "so3net" or dev.type == "cuda" else max(20, a.steps // 10)
            pot = CGPotential(ModelConfig(arch, cutoff=cut, n_atom_basis=nb, n_interactions=ni, n_rbf=nr), data["z"],
                              prior=prior)
            save_potential(tmp / f"{arch}.pt", pot)
            pot = pot.to(dev)
            for q in pot.parameters():
                q.requires_grad_(False)
            box = None if box_len is None else torch.tensor([box_len] * 3, device=dev)

            def raw_rate(x):
                for _ in range(3):
                    pot(x, box)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(steps):
                    pot(x, box)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                return a.replicas * steps / (time.perf_counter() - t0)

            raw_start = raw_rate(torch.tensor(np.load(tmp / "ds.npz")["coords"][: a.replicas], device=dev))
            p = {"n_replicas": a.replicas, "timestep_fs": 2.0, "friction_per_ps": 1.0, "temperature_K": T,
                 "n_steps": steps, "save_interval": 10, "checkpoint_interval": max(10, steps // 2),
                 "save_forces": False, "seed": 0}
            info = simulate(tmp / f"{arch}.pt", tmp / "ds.npz", p, tmp / f"{arch}_traj.npz", a.device, a.threads,
                            system=a.system)
            # the configurations change during the run (and with them the number of edges): time the raw
            # force call on frames spread over the run as well
            saved = np.load(tmp / f"{arch}_traj.npz")["coords"]
            picks = np.linspace(0, saved.shape[1] - 1, 4).round().astype(int)
            raws = [raw_start] + [raw_rate(torch.tensor(saved[:, k], device=dev)) for k in picks]
            rows.append((arch, raws, info["replica_steps_per_s"]))
    print(f"system={a.system} size={a.size} replicas={a.replicas} device={dev}")
    print(f"{'arch':<8} {'raw over the run (first ... last)':>36} {'harmonic':>9} {'engine':>9} {'ratio':>7}"
          "   (replica-steps/s)")
    for arch, raws, eng in rows:
        h = len(raws) / sum(1.0 / r for r in raws)
        print(f"{arch:<8} {' '.join(f'{r:.1f}' for r in raws):>36} {h:>9.1f} {eng:>9.1f} {eng / h:>7.3f}")


if __name__ == "__main__":
    main()
