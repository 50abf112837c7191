"""Every CUDA path of the workflow, run and timed: one table, GPU against CPU.

    python benchmarks/gpu_check.py --device cuda [--size check]     # on a GPU machine (≤ 8 min on one H100)
    python benchmarks/gpu_check.py --device cpu --size tiny          # anywhere (CI runs this)

Stages (each on ``--device`` and, when that is a GPU, again on the CPU for the ratio):

* reference MD, OpenMM (methane 625 atoms PME; NTL9 624 atoms implicit solvent): ns/day; the platform is
  CUDA on a GPU (``md.platform: auto`` resolves it; the table shows what it resolved to), CPU otherwise;
* training (PaiNN, SO3net, SchNet on a water-like dataset of 258 beads): frames/s of an epoch;
* CG simulation (the same models, batched replicas): replica-steps/s;
* relevance (GNN-LRP walks) in float32 and float64: frames/s;
* explain (``cgexplain explain`` on a SchNetPack ``NeuralNetworkPotential`` saved with ``torch.save``): frames/s;
* on a GPU, PaiNN training and simulation again with PyTorch's deterministic kernels off
  (``CGEXPLAIN_DETERMINISTIC=0``): what determinism costs.

The smoke DAG subset through Snakemake with ``--resources gpu=1`` is benchmarks/gpu_check.sh's job.
Every timed section ends with ``torch.cuda.synchronize()`` on a GPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_simulate import water_like

REPO = Path(__file__).resolve().parents[1]
ARCHS = ("painn", "so3net", "schnet")
SIZES = {  # frames, epochs, replicas, steps, relevance frames, MD ps (methane, ntl9), model width × depth
    "tiny": dict(frames=8, epochs=1, replicas=2, steps=20, rel_frames=1, md_ps=(0.2, 0.04), width=8, depth=1),
    "check": dict(frames=64, epochs=2, replicas=16, steps=300, rel_frames=3, md_ps=(10.0, 2.0), width=32, depth=2),
}


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def md_rows(device: str, size: dict, tmp: Path) -> list[tuple]:
    from cgexplain.core.config import merge_config_files
    from cgexplain.reference.reference_md import run_reference_md

    cfg = merge_config_files(REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml")
    rows = []
    for system, ps in zip(("methane", "ntl9"), size["md_ps"]):
        block = {k: v for k, v in cfg["systems"][system].items() if k not in ("models", "train", "simulate", "prior")}
        md = {**cfg["md"], **block.get("md", {})}
        md.update(platform="auto" if device == "cuda" else "CPU", equilibration_ps=0.0, production_ps=ps,
                  save_interval_ps=min(ps, float(md["save_interval_ps"])), checkpoint_interval_ps=ps,
                  report_interval_ps=ps, reproducible=False)
        if system == "ntl9":
            md.update(n_folded=1, n_unfolded=0)
        block["md"] = md
        t0 = time.perf_counter()
        info = run_reference_md(system, block, tmp / f"md_{system}_{device}.h5", seed=1, threads=2)
        wall = time.perf_counter() - t0
        rows.append((f"reference MD {system}", info.get("platform", "?"), wall,
                     float(info.get("ns_per_day", ps * 1e-3 / max(wall, 1e-9) * 86400)), "ns/day"))
    return rows


def torch_rows(device: str, size: dict, tmp: Path) -> list[tuple]:
    from cgexplain.core.device import pick_device
    from cgexplain.data.dataset import load_dataset, write_dataset
    from cgexplain.nn.models import CGPotential, ModelConfig, load_potential
    from cgexplain.relevance.run import compute_frame
    from cgexplain.simulate import simulate
    from cgexplain.train import train

    dev = pick_device(device)
    ds = tmp / "water.npz"
    if not ds.exists():
        write_dataset(ds, **water_like(size["frames"] + 2, np.random.default_rng(0), True, 2))
    data = load_dataset(ds)
    hp = {"cutoff_A": 5.0, "n_atom_basis": size["width"], "n_interactions": size["depth"], "n_rbf": 8}
    tp = {"batch_size": 4, "accumulate_grad_batches": 1, "lr": 1e-3, "weight_decay": 0.0, "lr_factor": 0.5,
          "lr_patience": 5, "lr_cooldown": 0, "min_lr": 1e-6, "ema_decay": 0.99, "max_epochs": size["epochs"],
          "early_stopping_patience": 50, "seed": 0}
    rows = []
    for arch in ARCHS:
        out = tmp / f"{arch}_{device}" / "model.pt"
        t0 = time.perf_counter()
        train(ds, arch, hp, tp, out, device, 2)
        sync(dev)
        wall = time.perf_counter() - t0
        rows.append((f"train {arch}", dev.type, wall, size["frames"] * size["epochs"] / wall, "frames/s"))
        p = {"n_replicas": size["replicas"], "timestep_fs": 2.0, "friction_per_ps": 1.0, "temperature_K": 300.0,
             "n_steps": size["steps"], "save_interval": 10, "checkpoint_interval": size["steps"],
             "save_forces": False, "seed": 0}
        t0 = time.perf_counter()
        info = simulate(out, ds, p, tmp / f"traj_{arch}_{device}.npz", device, 2)
        sync(dev)
        rows.append((f"simulate {arch}", dev.type, time.perf_counter() - t0, info["replica_steps_per_s"],
                     "replica-steps/s"))
        for dtype in (torch.float32, torch.float64):
            pot = load_potential(out, device=dev, dtype=dtype)
            n = size["rel_frames"]
            t0 = time.perf_counter()
            for f in range(n):
                compute_frame(pot, data["coords"][f].astype(np.float64), data["box"][f], 0.1, dtype, dev)
            sync(dev)
            wall = time.perf_counter() - t0
            rows.append((f"relevance {arch} {str(dtype)[6:]}", dev.type, wall, n / wall, "frames/s"))
        net = CGPotential(ModelConfig(arch, cutoff=5.0, n_atom_basis=size["width"], n_interactions=size["depth"],
                                      n_rbf=8), data["z"]).net
        torch.save(net, tmp / f"best_model_{arch}")
        rows.append(explain_row(tmp / f"best_model_{arch}", ds, tmp / f"explained_{arch}_{device}.npz", device,
                                size["rel_frames"], arch))
    if dev.type == "cuda":  # what PyTorch's deterministic kernels cost (CGEXPLAIN_DETERMINISTIC=0: off)
        os.environ["CGEXPLAIN_DETERMINISTIC"] = "0"
        try:
            t0 = time.perf_counter()
            train(ds, "painn", hp, tp, tmp / "painn_nondet" / "model.pt", device, 2)
            sync(dev)
            wall = time.perf_counter() - t0
            rows.append(("train painn, nondeterm.", dev.type, wall, size["frames"] * size["epochs"] / wall, "frames/s"))
            p = {**p, "seed": 1}
            t0 = time.perf_counter()
            info = simulate(tmp / "painn_cuda" / "model.pt", ds, p, tmp / "traj_nondet.npz", device, 2)
            sync(dev)
            rows.append(("simulate painn, nondeterm.", dev.type, time.perf_counter() - t0,
                         info["replica_steps_per_s"], "replica-steps/s"))
        finally:
            os.environ.pop("CGEXPLAIN_DETERMINISTIC", None)
    return rows


def explain_row(model: Path, ds: Path, out: Path, device: str, n: int, arch: str) -> tuple:
    from cgexplain.core.device import pick_device
    from cgexplain.explain import explain

    dev = pick_device(device)
    t0 = time.perf_counter()
    explain(model, ds, out, frames=f"0:{n}", device=device, dtype="float32", progress=False)
    sync(dev)
    wall = time.perf_counter() - t0
    return (f"explain {arch} float32", dev.type, wall, n / wall, "frames/s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--size", default="check", choices=sorted(SIZES))
    ap.add_argument("--skip-md", action="store_true")
    a = ap.parse_args()
    size = SIZES[a.size]
    devices = [a.device] + (["cpu"] if a.device == "cuda" else [])
    table: dict[str, dict[str, tuple]] = {}
    order: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for device in devices:
            rows = ([] if a.skip_md else md_rows(device, size, tmp)) + torch_rows(device, size, tmp)
            for stage, where, wall, rate, unit in rows:
                if stage not in table:
                    order.append(stage)
                table.setdefault(stage, {})[device] = (where, wall, rate, unit)
    print(f"\ngpu_check: device {a.device}, size {a.size}" + (f" ({torch.cuda.get_device_name()})"
                                                             if a.device == "cuda" else ""))
    print(f"{'stage':<26} {'device':<8} {'wall (s)':>9} {'throughput':>14} {'unit':<16} {'CPU':>12} {'ratio':>7}")
    for stage in order:
        where, wall, rate, unit = table[stage][a.device]
        cpu = table[stage].get("cpu") if a.device == "cuda" else None
        ratio = f"{rate / cpu[2]:.1f}×" if cpu else "–"
        cpu_rate = f"{cpu[2]:.2f}" if cpu else "–"
        print(f"{stage:<26} {where:<8} {wall:>9.2f} {rate:>14.2f} {unit:<16} {cpu_rate:>12} {ratio:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
