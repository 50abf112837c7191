"""Host synchronisations of the training and CG-simulation loops, counted on the CPU.

    python benchmarks/bench_syncs.py [--arch painn so3net schnet] [--steps 100] [--save-interval 10]

A GPU runs ahead of the Python that drives it until the host asks for a value (``.item()``, ``bool`` of a
tensor, ``nonzero``, a copy to the CPU): each such sync stalls the pipeline. This benchmark runs the real
stages, ``cgexplain.simulate.simulate`` and ``cgexplain.train.train``, with ``device cuda`` under
tests/pretend_cuda.py (tensors stay on the CPU, tagged as CUDA ones, every sync counted) on a water-like
system (258 beads, 20 Å box, smoke-size models), and prints syncs per integrator step and per training
batch, split into the neighbour list's compaction (``nonzero``, one per force call) and everything else.
Run it with ``PYTHONPATH=<another checkout>/workflow`` to count an older version of the code.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the device-check mode lives with the tests
from cgexplain.data.dataset import write_dataset  # noqa: E402
from cgexplain.nn.models import CGPotential, ModelConfig, save_potential  # noqa: E402
from bench_simulate import water_like  # noqa: E402
from pretend_cuda import pretend_cuda  # noqa: E402


def on_pretend_gpu():
    """Patches that let the stages believe in a GPU (the mode keeps every tensor on the CPU)."""
    return [mock.patch("torch.cuda.is_available", lambda: True),
            mock.patch("torch.cuda.device_count", lambda: 1),
            mock.patch("torch.cuda.current_device", lambda: 0),
            mock.patch("torch.cuda.get_device_name", lambda *a: "pretend"),
            mock.patch("torch.cuda.get_rng_state", lambda *a: torch.zeros(16, dtype=torch.uint8)),
            mock.patch("torch.cuda.set_rng_state", lambda *a: None)]


def count(fn) -> collections.Counter:
    patches = on_pretend_gpu()
    for p in patches:
        p.start()
    try:
        with pretend_cuda() as mode:
            real = torch.Generator
            torch.Generator = lambda device="cpu": mode.generator(device)
            try:
                fn()
            finally:
                torch.Generator = real
    finally:
        for p in patches:
            p.stop()
    return collections.Counter(mode.sync_ops)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["painn", "so3net", "schnet"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--save-interval", type=int, default=10)
    ap.add_argument("--batches", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(2)
    from cgexplain.simulate import simulate
    from cgexplain.train import train

    hp = {"cutoff_A": 5.0, "n_atom_basis": 16, "n_interactions": 2, "n_rbf": 8}
    tp = {"batch_size": 2, "accumulate_grad_batches": 1, "lr": 1e-3, "weight_decay": 0.0, "lr_factor": 0.5,
          "lr_patience": 5, "lr_cooldown": 0, "min_lr": 1e-6, "ema_decay": 0.99, "max_epochs": 1,
          "early_stopping_patience": 5, "seed": 0}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k in (1, 2):  # k × the batches of an epoch (4 validation frames: 2 batches either way)
            write_dataset(tmp / f"ds{k}.npz", **water_like(2 * k * a.batches + 4, np.random.default_rng(0), True, 4))
        for arch in a.arch:
            cfg = ModelConfig(arch, cutoff=5.0, n_atom_basis=16, n_interactions=2, n_rbf=8)
            save_potential(tmp / f"{arch}.pt", CGPotential(cfg, np.full(258, 8)))
            sim, tr = {}, {}
            for k in (1, 2):  # the difference of two lengths: per step / per batch, without set-up and end
                p = {"n_replicas": 2, "timestep_fs": 2.0, "friction_per_ps": 1.0, "temperature_K": 300.0,
                     "n_steps": k * a.steps, "save_interval": a.save_interval, "checkpoint_interval": k * a.steps,
                     "save_forces": False, "seed": 0}
                sim[k] = count(lambda: simulate(tmp / f"{arch}.pt", tmp / "ds1.npz", p, tmp / f"{arch}{k}.npz",
                                                "cuda", 2))
                tr[k] = count(lambda: train(tmp / f"ds{k}.npz", arch, hp, tp, tmp / f"m{k}_{arch}" / "model.pt",
                                            "cuda", 2))
            rows.append((arch, sim[2] - sim[1], tr[2] - tr[1], tr[1]))
    print(f"host syncs counted under tests/pretend_cuda.py (water-like, 258 beads, 2 replicas); per step: from "
          f"{a.steps} more steps (save every {a.save_interval}), per batch: from {a.batches} more training batches")
    print(f"{'arch':<8} {'per step':>9} {'nonzero':>8} {'other':>6}   {'per batch':>9} {'nonzero':>8} {'other':>6}"
          f"   {'per epoch, rest':>15}   other ops per step / batch")
    for arch, sim, tr, epoch in rows:
        s_nz, t_nz = sim["nonzero"], tr["nonzero"]
        s_o, t_o = sum(sim.values()) - s_nz, sum(tr.values()) - t_nz
        rest = sum(epoch.values()) - (t_nz + t_o)
        ops = ", ".join(f"{k}×{v}" for k, v in (sim + tr).most_common() if k != "nonzero") or "none"
        print(f"{arch:<8} {(s_nz + s_o) / a.steps:>9.2f} {s_nz / a.steps:>8.2f} {s_o / a.steps:>6.2f}   "
              f"{(t_nz + t_o) / a.batches:>9.2f} {t_nz / a.batches:>8.2f} {t_o / a.batches:>6.2f}   {rest:>15d}   {ops}")


if __name__ == "__main__":
    main()
