"""Batched CG Langevin dynamics (B-A-O-A-B, one force evaluation per step) with mlcg's semantics.

Per step, for all replicas at once (one model call for the whole batch):

    v ← v + (dt/2)·F/m;  x ← x + (dt/2)·v;
    v ← c·v + sqrt(1 − c²)·sqrt(kT/m)·ξ,  c = exp(−γ dt);
    x ← x + (dt/2)·v;  F ← F(x);  v ← v + (dt/2)·F/m.

Units: Å, ps, kcal/mol; masses in amu are divided by 418.4 so that F/m is in Å/ps². Positions are
wrapped into the orthorhombic box after every step (periodic systems; proteins run with open
boundaries). The replicas start from dataset frames that the system picks
(:meth:`cgexplain.systems.System.start_frames`: random training frames for liquids, k-centres for
proteins).

Output ``trajectory.npz``: ``coords`` (R, F, N, 3) f4 Å; ``box`` (3,) Å (zeros and ``periodic``
False for open boundaries); ``z`` (N,); ``masses``
(N,) amu; ``dt_fs``; ``save_interval`` (steps); ``temperature_K``; optionally ``forces``
(R, F, N, 3) kcal/mol/Å and ``energies`` (R, F) kcal/mol. A run is resumable: frames are flushed
in chunks with a checkpoint (positions, velocities, forces, RNG) under ``<out dir>/work/``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from .config import load_params
from .dataset import frame_boxes, load_dataset
from .models import load_potential
from .neighbors import wrap
from .runtime import prepare_stage, save_npz
from .systems import System, get_system
from .runtime import log

KB_KCAL = 0.0019872041  # kcal/mol/K
AMU_TO_INTERNAL = 1.0 / 418.4  # amu -> kcal/mol ps²/Å²

SIM_KEYS = ("n_replicas", "timestep_fs", "friction_per_ps", "temperature_K", "n_steps", "save_interval",
            "checkpoint_interval", "save_forces", "seed")




class SimulationError(RuntimeError):
    """The dynamics produced a non-finite force or position."""


class LangevinBAOAB:
    """B-A-O-A-B Langevin integrator for a batch of replicas.

    ``force_fn(x) -> (energies (R,), forces (R, N, 3))``; ``masses`` (N,) in amu.
    """

    def __init__(self, force_fn, masses, dt_ps: float, friction_per_ps: float, temperature_K: float,
                 box=None, generator: torch.Generator | None = None):
        self.force_fn = force_fn
        self.dt = float(dt_ps)
        self.gamma = float(friction_per_ps)
        self.kT = KB_KCAL * float(temperature_K)
        self.m = torch.as_tensor(masses, dtype=torch.float64).reshape(1, -1, 1) * AMU_TO_INTERNAL
        self.box = box
        self.gen = generator
        self.c = math.exp(-self.gamma * self.dt)
        self.step_count = 0

    def _prepare(self, like: torch.Tensor):
        self.m = self.m.to(like)
        self.sigma_v = torch.sqrt(self.kT / self.m)
        if self.box is not None:
            self.box = torch.as_tensor(self.box, dtype=like.dtype, device=like.device)

    def init_velocities(self, x: torch.Tensor) -> torch.Tensor:
        self._prepare(x)
        return self.sigma_v * torch.randn(x.shape, generator=self.gen, dtype=x.dtype, device=x.device)

    def kinetic_temperature(self, v: torch.Tensor) -> torch.Tensor:
        """Instantaneous temperature per replica (K), 3N degrees of freedom."""
        ekin = 0.5 * (self.m * v * v).sum(dim=(-1, -2))
        return 2.0 * ekin / (v.shape[-2] * v.shape[-1] * KB_KCAL)

    def run(self, x, v, f, n_steps: int, callback=None):
        """Advance ``n_steps``; ``callback(step, x, v, e, f)`` after each step. Returns x, v, e, f."""
        self._prepare(x)
        h = 0.5 * self.dt
        e = None
        for _ in range(n_steps):
            v = v + h * f / self.m
            x = x + h * v
            noise = torch.randn(x.shape, generator=self.gen, dtype=x.dtype, device=x.device)
            v = self.c * v + math.sqrt(1.0 - self.c * self.c) * self.sigma_v * noise
            x = x + h * v
            x = wrap(x, self.box)
            e, f = self.force_fn(x)
            self.step_count += 1
            bad = ~(torch.isfinite(f).flatten(1).all(1) & torch.isfinite(x).flatten(1).all(1))
            if bool(bad.any()):
                r = int(bad.nonzero()[0, 0])
                raise SimulationError(f"non-finite force or position at step {self.step_count} in replica {r}")
            v = v + h * f / self.m
            if callback is not None:
                callback(self.step_count, x, v, e, f)
        return x, v, e, f


def simulate(model_path: Path, dataset: Path, p: dict, out: Path, device: str = "auto",
             threads: int | None = None, system: System | str | None = None) -> dict:
    """Run ``p['n_replicas']`` replicas of the model; ``system`` picks the start frames (default:
    random training frames)."""
    out = Path(out)
    work, ckpt_path, dev = prepare_stage(out, threads, device)
    pot = load_potential(model_path, device=dev, dtype=torch.float32)
    for q in pot.parameters():
        q.requires_grad_(False)
    data = load_dataset(dataset)
    boxes = frame_boxes(data)
    box_np = None if boxes is None else boxes[0].astype(np.float64)
    masses = data["masses"]
    R, n_steps, every = int(p["n_replicas"]), int(p["n_steps"]), int(p["save_interval"])
    ck_every = max(every, int(p["checkpoint_interval"]) // every * every)
    save_forces = bool(p.get("save_forces", False))
    if n_steps < every:
        raise ValueError(f"simulate.n_steps ({n_steps}) must be >= simulate.save_interval ({every})")
    box32 = None if box_np is None else torch.tensor(box_np, dtype=torch.float32, device=dev)

    def force_fn(x):
        e, f = pot(x.to(torch.float32), box32)
        return e.detach().to(x.dtype), f.detach().to(x.dtype)

    gen = torch.Generator(device=dev)
    gen.manual_seed(int(p["seed"]))
    integ = LangevinBAOAB(force_fn, masses, float(p["timestep_fs"]) / 1000.0, float(p["friction_per_ps"]),
                          float(p["temperature_K"]), box=box_np, generator=gen)
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        x, v, f = ck["x"].to(dev), ck["v"].to(dev), ck["f"].to(dev)
        integ.step_count, n_chunks = ck["step"], ck["chunks"]
        gen.set_state(ck["gen"].cpu())  # generator states are CPU byte tensors on every device
        log(f"resuming from step {integ.step_count}/{n_steps} ({n_chunks} chunks saved)")
    else:
        rng = np.random.default_rng(int(p["seed"]))
        sysobj = System() if system is None else (get_system(system) if isinstance(system, str) else system)
        start = sysobj.start_frames(data, R, rng)
        x = wrap(torch.tensor(data["coords"][start].astype(np.float64), device=dev),
                 None if box_np is None else torch.tensor(box_np, device=dev))
        v = integ.init_velocities(x)
        _, f = force_fn(x)
        n_chunks = 0
        for old in work.glob("chunk_*.npz"):
            old.unlink()
    buf: dict[str, list] = {"coords": [], "forces": [], "energies": []}
    t0, s0 = time.perf_counter(), integ.step_count
    report_every = max(every, n_steps // 20 // every * every)

    def flush(step):
        nonlocal n_chunks
        if buf["coords"]:
            arrays = {k: np.stack(vals, axis=1) for k, vals in buf.items() if vals}
            np.savez(work / f"chunk_{n_chunks:06d}.npz", **arrays)
            n_chunks += 1
            for vals in buf.values():
                vals.clear()

    def callback(step, x_, v_, e_, f_):
        if step % every == 0:
            buf["coords"].append(x_.to(torch.float32).cpu().numpy())
            buf["energies"].append(e_.to(torch.float32).cpu().numpy())
            if save_forces:
                buf["forces"].append(f_.to(torch.float32).cpu().numpy())
        if step % ck_every == 0 or step == n_steps:
            flush(step)
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save({"x": x_, "v": v_, "f": f_, "step": step, "chunks": n_chunks, "gen": gen.get_state()}, tmp)
            tmp.replace(ckpt_path)
        if step % report_every == 0 or step == n_steps:
            el = time.perf_counter() - t0
            rate = (step - s0) * R / max(el, 1e-9)
            T = float(integ.kinetic_temperature(v_).mean())
            log(f"step {step}/{n_steps}  T_kin {T:.1f} K  {rate:.1f} replica-steps/s")

    log(f"{R} replicas × {data['coords'].shape[1]} beads, {n_steps} steps of {p['timestep_fs']} fs on {dev}")
    try:
        integ.run(x, v, f, n_steps - integ.step_count, callback)
    except SimulationError:
        flush(integ.step_count)
        _assemble(work, n_chunks, out.with_name(out.stem + ".failed.npz"), box_np, data, p, save_forces)
        log(f"frames written so far are in {out.with_name(out.stem + '.failed.npz')}")
        raise
    elapsed = time.perf_counter() - t0
    _assemble(work, n_chunks, out, box_np, data, p, save_forces)
    ckpt_path.unlink(missing_ok=True)
    for c in work.glob("chunk_*.npz"):
        c.unlink()
    return {"replica_steps_per_s": (n_steps - s0) * R / max(elapsed, 1e-9), "seconds": elapsed}


def _assemble(work: Path, n_chunks: int, out: Path, box, data, p, save_forces):
    parts = [np.load(work / f"chunk_{k:06d}.npz") for k in range(n_chunks)]
    res = {"coords": np.concatenate([q["coords"] for q in parts], axis=1) if parts else
           np.zeros((int(p["n_replicas"]), 0, data["coords"].shape[1], 3), np.float32)}
    if parts:
        res["energies"] = np.concatenate([q["energies"] for q in parts], axis=1)
        if save_forces:
            res["forces"] = np.concatenate([q["forces"] for q in parts], axis=1)
    if box is None:
        res["periodic"] = np.asarray(False)
    save_npz(out, box=np.zeros(3, np.float32) if box is None else np.asarray(box, np.float32), z=data["z"],
             masses=data["masses"], dt_fs=float(p["timestep_fs"]), save_interval=int(p["save_interval"]),
             temperature_K=float(p["temperature_K"]), **res)


def load_trajectory(path: str | Path) -> dict[str, np.ndarray]:
    """Load a CG trajectory npz (this engine's or the IMC production run's)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory {path} does not exist")
    with np.load(path) as d:
        for k in ("coords", "box", "z"):
            if k not in d:
                raise KeyError(f"{path}: missing key '{k}' (expected a cgexplain CG trajectory)")
        out = {k: d[k] for k in d.files}
    if out["coords"].ndim != 4:
        raise ValueError(f"{path}: coords must have shape (replicas, frames, beads, 3), got {out['coords'].shape}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain simulate", description="Batched CG Langevin simulation.")
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--dataset", required=True, type=Path, help="CG dataset: masses, box and start frames")
    ap.add_argument("--params", required=True, help="JSON: the simulate section plus seed")
    ap.add_argument("--system", default=None, help="registered system: picks the start frames")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    p = load_params(a.params, SIM_KEYS, "simulate params")
    info = simulate(a.model, a.dataset, p, a.out, a.device, a.threads, a.system)
    log(f"done: {info}")
    return 0
