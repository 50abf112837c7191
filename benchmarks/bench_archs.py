"""Speed of SchNetPack's SO3net, the project's SO3net (cgexplain.nn.so3fast), PaiNN and SchNet on CPU.

    python benchmarks/bench_archs.py [--sizes lite paper] [--systems methane water] [--threads 2] [--reps 5]
    python benchmarks/bench_archs.py --quick          # fewer repetitions and simulation steps (~3 min)

Per size, system and model: milliseconds per forward pass (energy, no gradients), per forward pass +
forces (energy and autograd forces: the CG simulation's force call) and per training step (forward +
forces with ``create_graph`` + force-MSE backward + AdamW step), each the fastest (``--stat min``, the
default: the machine's other load only ever adds time) or the median of ``--reps`` timed repetitions
after two warm-up calls (SchNetPack's SO3net at the paper size: one warm-up and at most two
repetitions), one frame, float32, the neighbour list included. ``ΔF`` is the largest force
difference of the project's SO3net from SchNetPack's with the same weights, relative to the largest force.

Sizes: read from config/config.yaml (paper) and config/config.yaml + config/lite.yaml (lite), each
system's ``models`` block: today lite 32 features × 2 interactions, 16 RBF, cutoff 6 Å (PaiNN, SchNet)
and 5 Å (SO3net, lmax 2); paper 128 × 3, 20 RBF, cutoff 7 Å (PaiNN, SchNet) and 5 Å (SO3net, lmax 2).
``--half-width`` adds an SO3net at half the lite width (the lite tier's size before the fast layers).
Weights are random, perturbed so that no layer is zero.

Frames (no MD; liquid density, every pair at least 2.5 Å apart, which is checked):

* methane: 125 beads on the 5 × 5 × 5 lattice of the reference box 20.768 × 20.410 × 17.969 Å (lattice
  spacings 3.6-4.2 Å), each bead displaced uniformly by up to ±0.5 Å per axis;
* water: 258 beads on 258 random sites of the 7 × 7 × 7 lattice of the 2 nm cube (20 Å box, spacing
  2.86 Å, 32 beads/nm³ as liquid water), displaced by up to ±0.15 Å per axis.

Simulation: CG Langevin replica-steps/s (``cgexplain.simulate.LangevinBAOAB``, 2 fs, as
``cgexplain.simulate.simulate`` drives it, without its file output) of the project's and SchNetPack's
SO3net on ``--replicas`` copies of the water frame, lite sizes.

Goal for the project's SO3net: training step ≥ 10× faster than SchNetPack's SO3net and ≤ 3× PaiNN's
(the same size's PaiNN row).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from cgexplain.core.compat import spk
from cgexplain.core.config import merge_config_files
from cgexplain.nn.models import CGPotential, ModelConfig
from cgexplain.simulate import LangevinBAOAB

METHANE_BOX = np.array([20.768, 20.410, 17.969])
WATER_BOX = np.full(3, 20.0)

CONFIG = Path(__file__).resolve().parents[1] / "config"
TIERS = {"paper": [], "lite": ["lite.yaml"]}  # size -> overlays on config/config.yaml
LABELS = {"painn": "PaiNN", "schnet": "SchNet", "so3net": "SO3net"}


def sizes(half_width: bool = False) -> dict:
    """size -> system -> {label: (architecture, n_atom_basis, n_interactions, n_rbf, cutoff)} from the
    config files' ``systems.<system>.models`` blocks."""
    out = {}
    for size, overlays in TIERS.items():
        cfg = merge_config_files(CONFIG / "config.yaml", *(CONFIG / name for name in overlays))
        out[size] = {}
        for system, block in cfg["systems"].items():
            specs = {LABELS[a]: (a, m["n_atom_basis"], m["n_interactions"], m["n_rbf"], m["cutoff_A"])
                     for a, m in block.get("models", {}).items() if a in LABELS}
            if half_width and size == "lite" and "SO3net" in specs:
                a, nb, *rest = specs["SO3net"]
                specs["SO3net-half"] = (a, nb // 2, *rest)
            out[size][system] = specs
    return out


MIN_DISTANCE = 2.5  # Å


def jittered_lattice(box: np.ndarray, shape, n: int, jitter: float, rng) -> np.ndarray:
    """``n`` beads on random sites of a ``shape`` lattice filling ``box``, displaced uniformly by up to
    ``jitter`` Å per axis; refuses a frame with a pair closer than :data:`MIN_DISTANCE` (minimum image)."""
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in shape], indexing="ij"), -1).reshape(-1, 3)
    sites = grid[rng.choice(len(grid), size=n, replace=False)] * (box / np.asarray(shape))
    pos = (sites + rng.uniform(-jitter, jitter, size=sites.shape)) % box
    d = pos[:, None] - pos[None]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1) + np.eye(n) * 1e9
    if r.min() < MIN_DISTANCE:
        raise RuntimeError(f"frame has a pair {r.min():.2f} Å apart (< {MIN_DISTANCE} Å)")
    return pos


def frames(seed: int = 0) -> dict:
    """system -> (positions (N, 3) Å, box (3,) Å, bead type)."""
    rng = np.random.default_rng(seed)
    return {"methane": (jittered_lattice(METHANE_BOX, (5, 5, 5), 125, 0.5, rng), METHANE_BOX, 6),
            "water": (jittered_lattice(WATER_BOX, (7, 7, 7), 258, 0.15, rng), WATER_BOX, 8)}


def stock_network(cfg: ModelConfig) -> torch.nn.Module:
    """SchNetPack's own SO3net potential (no cgexplain layers) with the architecture of ``cfg``."""
    rep = spk.representation.SO3net(
        n_atom_basis=cfg.n_atom_basis, n_interactions=cfg.n_interactions, lmax=cfg.lmax,
        radial_basis=spk.nn.GaussianRBF(n_rbf=cfg.n_rbf, cutoff=cfg.cutoff),
        cutoff_fn=spk.nn.CosineCutoff(cfg.cutoff), max_z=cfg.max_z)
    return spk.model.NeuralNetworkPotential(
        representation=rep, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=cfg.n_atom_basis, output_key="energy")],
        do_postprocessing=False)


def potentials(spec, z) -> dict:
    """label -> CGPotential: the project's model and, for SO3net, SchNetPack's with the same weights."""
    arch, nb, ni, nr, cut = spec
    torch.manual_seed(0)
    cfg = ModelConfig(arch, cutoff=cut, n_atom_basis=nb, n_interactions=ni, n_rbf=nr, lmax=2)
    pot = CGPotential(cfg, z)
    with torch.no_grad():  # SchNetPack zero-initialises some layers: make every path active
        for p in pot.parameters():
            p.add_(0.05 * torch.randn_like(p))
    if arch != "so3net":
        return {"": pot}
    stock = CGPotential(cfg, z)
    stock.net = stock_network(cfg)
    stock.net.load_state_dict(pot.net.state_dict())
    return {"stock": stock, "project": pot}


STAT = {"min": min, "median": statistics.median}


def timed_ms(fn, reps: int, warmup: int, stat: str) -> float:
    """Milliseconds per call of ``fn``: ``stat`` over ``reps`` timed calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * STAT[stat](times)


def time_model(pot, pos, box, reps: int, warmup: int, stat: str) -> dict:
    """ms per forward, forward + forces and training step; the forces; the number of edges."""
    opt = torch.optim.AdamW(pot.parameters(), lr=1e-5)
    f_ref = torch.randn_like(pos)

    def forward():
        with torch.no_grad():
            pot.energy(pos, box)

    def train_step():
        _, f = pot(pos, box, create_graph=True)
        ((f - f_ref) ** 2).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    forces = pot(pos, box)[1].detach()
    out = {"forward": timed_ms(forward, reps, warmup, stat),
           "forces": timed_ms(lambda: pot(pos, box), reps, warmup, stat),
           "train": timed_ms(train_step, reps, warmup, stat)}
    edges = pot.inputs(pos, box)[spk.properties.idx_i].numel()
    return out | {"F": forces, "edges": edges}


def replica_steps_per_s(pot, pos, box, replicas: int, steps: int) -> float:
    """CG Langevin replica-steps/s as :func:`cgexplain.simulate.simulate` runs it (float64 state,
    float32 force calls, positions wrapped), without file output or sanity checks."""
    box32 = torch.tensor(box, dtype=torch.float32)
    for q in pot.parameters():
        q.requires_grad_(False)

    def force_fn(x):
        e, f = pot(x.to(torch.float32), box32)
        return e.detach().to(x.dtype), f.detach().to(x.dtype)

    gen = torch.Generator().manual_seed(0)
    integ = LangevinBAOAB(force_fn, torch.full((pos.shape[1],), 18.015, dtype=torch.float64), 0.002, 1.0,
                          300.0, box=box, generator=gen)
    x = pos.to(torch.float64).repeat(replicas, 1, 1)
    v = integ.init_velocities(x)
    _, f = force_fn(x)
    integ.run(x, v, f, 2)  # warm-up
    t0 = time.perf_counter()
    integ.run(x, v, f, steps)
    return replicas * steps / (time.perf_counter() - t0)


def run(args) -> tuple[list, list]:
    rows, sims = [], []
    specs = sizes(args.half_width)
    for size in args.sizes:
        for system in args.systems:
            pos_np, box_np, bead = frames()[system]
            pos = torch.tensor(pos_np[None], dtype=torch.float32)
            box = torch.tensor(box_np, dtype=torch.float32)
            z = [bead] * len(pos_np)
            for name, spec in specs[size][system].items():
                for variant, pot in potentials(spec, z).items():
                    slow = variant == "stock" and size == "paper"
                    reps = min(2, args.reps) if slow else args.reps
                    t = time_model(pot, pos, box, reps, 1 if slow else 2, args.stat)
                    rows.append({"size": size, "system": system, "model": name, "variant": variant,
                                 "spec": spec} | t)
                    print(f"  {size:5} {system:7} {name:9} {variant or '-':7} train {t['train']:9.1f} ms",
                          flush=True)
                    if system == "water" and size in args.sim_sizes and spec[0] == "so3net":
                        sims.append((size, name, variant, spec,
                                     replica_steps_per_s(pot, pos, box_np, args.replicas, args.sim_steps)))
    return rows, sims


def ratios(rows) -> None:
    """Add speed-ups over SchNetPack's SO3net, ratios to PaiNN and the force difference to the rows."""
    by = {(r["size"], r["system"], r["model"], r["variant"]): r for r in rows}
    for r in rows:
        if r["variant"] != "project":
            continue
        stock = by[(r["size"], r["system"], r["model"], "stock")]
        painn = by.get((r["size"], r["system"], "PaiNN", ""))
        r["speedup"] = stock["train"] / r["train"]
        r["vs_painn"] = r["train"] / painn["train"] if painn else float("nan")
        r["dF"] = float((r["F"] - stock["F"]).abs().max() / stock["F"].abs().max())
        r["goal"] = r["speedup"] >= 10 and r["vs_painn"] <= 3


def print_tables(rows, sims, args) -> None:
    print(f"\nthreads={args.threads}  reps={args.reps}  ({args.stat} ms; float32, one frame)\n")
    print("| size | system | model | features × interactions, cutoff | edges | forward | forward + forces "
          "| training step | vs SchNetPack SO3net | vs PaiNN | ΔF | goal |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        arch, nb, ni, _, cut = r["spec"]
        label = {"stock": f"{r['model']} (SchNetPack)", "project": f"{r['model']} (project)"}.get(
            r["variant"], r["model"])
        extra = ("| | | | |" if r["variant"] != "project" else
                 f"| {r['speedup']:.1f}× faster | {r['vs_painn']:.2f}× | {r['dF']:.1e} | "
                 f"{'met' if r['goal'] else 'not met'} |")
        print(f"| {r['size']} | {r['system']} | {label} | {nb} × {ni}, {cut:g} Å | {r['edges']} "
              f"| {r['forward']:.1f} | {r['forces']:.1f} | {r['train']:.1f} {extra}")
    if sims:
        print(f"\nCG simulation, water, {args.replicas} replicas, {args.sim_steps} steps (replica-steps/s)\n")
        print("| size | model | SchNetPack | project | speed-up |")
        print("|---|---|---:|---:|---:|")
        rate = {(s, m, v): x for s, m, v, _, x in sims}
        for s, m in dict.fromkeys((s, m) for s, m, *_ in sims):
            a, b = rate.get((s, m, "stock")), rate.get((s, m, "project"))
            print(f"| {s} | {m} | {a:.1f} | {b:.1f} | {b / a:.1f}× |")
    met = [r for r in rows if r.get("goal")]
    print(f"\ngoal (training step ≥ 10× faster than SchNetPack's SO3net and ≤ 3× PaiNN's): met by "
          f"{len(met)} of {sum(r['variant'] == 'project' for r in rows)} project SO3net rows"
          + (": " + ", ".join(f"{r['size']} {r['system']} {r['model']}" for r in met) if met else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", choices=sorted(TIERS), default=["lite", "paper"])
    ap.add_argument("--systems", nargs="+", choices=["methane", "water"], default=["methane", "water"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions per measurement")
    ap.add_argument("--stat", choices=sorted(STAT), default="min", help="statistic of the repetitions")
    ap.add_argument("--replicas", type=int, default=8, help="simulation replicas")
    ap.add_argument("--sim-steps", type=int, default=20, help="simulation steps (0: no simulation)")
    ap.add_argument("--sim-sizes", nargs="*", default=["lite"], help="sizes whose SO3nets are simulated")
    ap.add_argument("--half-width", action="store_true", help="also an SO3net at half the lite width")
    ap.add_argument("--quick", action="store_true", help="3 repetitions, 6 simulation steps")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.sim_steps = min(args.reps, 3), min(args.sim_steps, 6)
    if args.sim_steps <= 0:
        args.sim_sizes = []
    torch.set_num_threads(args.threads)
    rows, sims = run(args)
    ratios(rows)
    print_tables(rows, sims, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
