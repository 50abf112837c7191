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

Physical sanity: besides a non-finite force or position, the run stops with a
:class:`SimulationError` naming the step, the replica and the value when a replica's kinetic
temperature, averaged over a save interval, leaves ``temperature_band`` × ``temperature_K``, or when
a bead moves more than ``max_step_fraction_of_cutoff`` × the model's cutoff in one step (the
displacement before wrapping). The frames saved before it are written to ``<stem>.failed.npz``.

Output ``trajectory.npz``: ``coords`` (R, F, N, 3) f4 Å; ``box`` (3,) Å (zeros and ``periodic``
False for open boundaries); ``z`` (N,); ``masses``
(N,) amu; ``dt_fs``; ``save_interval`` (steps); ``temperature_K``; ``friction_per_ps``; ``seed``;
``fingerprint`` (of the parameters, model and dataset that made every frame); optionally ``forces``
(R, F, N, 3) kcal/mol/Å and ``energies`` (R, F) kcal/mol. A run is resumable: frames are flushed
in chunks with a checkpoint (positions, velocities, forces, RNG) under ``<out dir>/work/``, which
only a run with the same fingerprint (all parameters, the model file's and the dataset's content,
the system) resumes; any change starts fresh and keeps nothing (:func:`cgexplain.core.runtime.claim_work`).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from .core.config import ParamsError, load_params
from .core.device import pick_device
from .core.errors import InputError, report
from .core.runtime import (
    JobBudget,
    add_chain_arguments,
    claim_work,
    fingerprint,
    log,
    prepare_stage,
    release_work,
    save_npz,
    write_status,
)
from .data.dataset import frame_boxes, load_dataset
from .nn.models import check_beads, load_potential
from .nn.neighbors import check_box, wrap
from .systems import System, get_system

KB_KCAL = 0.0019872041  # kcal/mol/K
AMU_TO_INTERNAL = 1.0 / 418.4  # amu -> kcal/mol ps²/Å²

SIM_KEYS = ("n_replicas", "timestep_fs", "friction_per_ps", "temperature_K", "n_steps", "save_interval",
            "checkpoint_interval", "save_forces", "seed")
DEFAULT_BAND = (0.5, 2.0)  # simulate.temperature_band: factors of temperature_K
DEFAULT_MAX_STEP_FRACTION = 0.1  # simulate.max_step_fraction_of_cutoff


class SimulationError(RuntimeError):
    """The dynamics left physical ground: a non-finite force or position, a kinetic temperature
    outside the band, or a bead step longer than allowed (the message names step and replica)."""


class LangevinBAOAB:
    """B-A-O-A-B Langevin integrator for a batch of replicas.

    ``force_fn(x) -> (energies (R,), forces (R, N, 3))``; ``masses`` (N,) in amu.

    Sanity checks (a :class:`SimulationError` naming step, replica and value), besides non-finite
    forces and positions: ``temperature_band`` (low, high factors of ``temperature_K``) with
    ``check_every`` (steps): the kinetic temperature of each replica, averaged over the steps since
    the last check, is checked at every multiple of ``check_every`` and at ``final_step`` (Σ m v² is
    accumulated on the device; one host transfer per check). ``max_step_A``: no bead may move further
    in one step (the displacement before wrapping; one max-norm per step, folded into the finiteness
    test's single host sync); ``max_step_why`` says where the limit comes from.
    """

    def __init__(self, force_fn, masses, dt_ps: float, friction_per_ps: float, temperature_K: float,
                 box=None, generator: torch.Generator | None = None, temperature_band=None,
                 check_every: int | None = None, max_step_A: float | None = None, max_step_why: str = ""):
        self.force_fn = force_fn
        self.dt = float(dt_ps)
        self.gamma = float(friction_per_ps)
        self.T = float(temperature_K)
        self.kT = KB_KCAL * self.T
        self.m = torch.as_tensor(masses, dtype=torch.float64).reshape(1, -1, 1) * AMU_TO_INTERNAL
        self.box = box
        self.gen = generator
        self.c = math.exp(-self.gamma * self.dt)
        self.step_count = 0
        if temperature_band is not None:
            lo, hi = (float(b) for b in temperature_band)
            if not 0.0 <= lo < hi:
                raise ValueError(f"temperature_band must be [low, high] with 0 <= low < high, got {temperature_band}")
            self.band = (lo, hi)
            self.check_every = max(1, int(check_every or 1))
        else:
            self.band, self.check_every = None, None
        self.final_step: int | None = None
        self.max_step = None if max_step_A is None else float(max_step_A)
        self.max_step_why = max_step_why
        self._ek_sum = None  # Σ over steps of Σ m v² per replica since the last temperature check
        self._ek_n = 0
        self._bad = None  # first failing step per replica since the start, on the device (see _record)
        self.last_temperature = float("nan")  # mean kinetic temperature (K) of the last checked interval

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

    def _record(self, ok: torch.Tensor, bad: torch.Tensor, d2: torch.Tensor | None) -> None:
        """Keep, on the device, the first failing step of each replica and what failed (no host sync)."""
        if self._bad is None:
            R = bad.shape[0]
            self._bad = {"step": torch.full((R,), -1, dtype=torch.long, device=bad.device),
                         "ok": torch.ones(R, dtype=torch.bool, device=bad.device),
                         "bead": torch.zeros(R, dtype=torch.long, device=bad.device),
                         "d2": torch.zeros(R, dtype=d2.dtype if d2 is not None else torch.float64, device=bad.device)}
        first = bad & (self._bad["step"] < 0)
        rec = self._bad
        rec["step"] = torch.where(first, self.step_count, rec["step"])
        rec["ok"] = torch.where(first, ok, rec["ok"])
        if d2 is not None:
            rec["bead"] = torch.where(first, d2.argmax(1), rec["bead"])
            rec["d2"] = torch.where(first, d2.amax(1), rec["d2"])

    def check(self, n_dof: int, temperature: bool = True) -> None:
        """The one host sync of a check interval: raise for the first failing step recorded since the last
        check (non-finite force or position, too long a step), then check (and reset) the kinetic
        temperature averaged since the last check."""
        rows = []
        if self._bad is not None:
            rec = self._bad
            rows += [rec["step"].double(), rec["ok"].double(), rec["bead"].double(), rec["d2"].double()]
        temperature = temperature and self.band is not None and self._ek_n > 0
        if temperature:
            rows.append(self._ek_sum.double() / (self._ek_n * n_dof * KB_KCAL))  # 2·(½ Σ m v²)/(n_dof k_B)
        if not rows:
            return
        host = torch.stack(rows).cpu()
        if self._bad is not None:
            step, ok, bead, d2 = host[:4]
            failed = (step >= 0).nonzero().flatten()
            if len(failed):
                r = int(failed[step[failed].argmin()])
                s = int(step[r])
                if not bool(ok[r]):
                    raise SimulationError(f"non-finite force or position at step {s} in replica {r}")
                raise SimulationError(
                    f"bead {int(bead[r])} of replica {r} moved {float(d2[r]) ** 0.5:.3g} Å in step {s}, "
                    f"more than {self.max_step:.3g} Å{self.max_step_why}")
        if temperature:
            self._check_temperature(host[-1])

    def _check_temperature(self, T: torch.Tensor) -> None:
        self.last_temperature = float(T.mean())
        first, n = self.step_count - self._ek_n + 1, self._ek_n
        self._ek_sum, self._ek_n = None, 0
        lo, hi = self.band[0] * self.T, self.band[1] * self.T
        bad = ~((T >= lo) & (T <= hi))
        if bool(bad.any()):
            r = int(bad.nonzero()[0, 0])
            more = int(bad.sum()) - 1
            steps = f"step {first}" if n == 1 else f"steps {first}-{self.step_count}"
            raise SimulationError(
                f"kinetic temperature {float(T[r]):.3g} K of replica {r}, averaged over {steps}, is outside "
                f"[{lo:.4g}, {hi:.4g}] K (temperature_band [{self.band[0]:g}, {self.band[1]:g}] × {self.T:g} K)"
                + (f"; {more} more replica(s) too" if more else ""))

    def run(self, x, v, f, n_steps: int, callback=None):
        """Advance ``n_steps``; ``callback(step, x, v, e, f)`` after each step. Returns x, v, e, f.

        The sanity checks are folded into one host sync at every multiple of ``check_every``, at
        ``final_step`` and at the last step of the call, before that step's callback: a failing step
        is reported (by its own step number) before any later frame can be saved."""
        self._prepare(x)
        h = 0.5 * self.dt
        e = None
        band, jump2 = self.band is not None, None if self.max_step is None else self.max_step ** 2
        n_dof = x.shape[-2] * x.shape[-1]
        every = self.check_every or 1
        for k in range(n_steps):
            x0 = x
            v = v + h * f / self.m
            x = x + h * v
            noise = torch.randn(x.shape, generator=self.gen, dtype=x.dtype, device=x.device)
            v = self.c * v + math.sqrt(1.0 - self.c * self.c) * self.sigma_v * noise
            x = x + h * v
            d2 = None if jump2 is None else ((x - x0) ** 2).sum(-1)  # (R, N): this step's displacement, before wrapping
            x = wrap(x, self.box)
            e, f = self.force_fn(x)
            self.step_count += 1
            ok = torch.isfinite(f).flatten(1).all(1) & torch.isfinite(x).flatten(1).all(1)
            self._record(ok, ~ok if jump2 is None else ~ok | (d2.amax(1) > jump2), d2)
            v = v + h * f / self.m
            if band:
                ek = (self.m * v * v).sum(dim=(1, 2))
                self._ek_sum = ek if self._ek_sum is None else self._ek_sum + ek
                self._ek_n += 1
            due = self.step_count % every == 0 or self.step_count == self.final_step
            if due or k == n_steps - 1:
                self.check(n_dof, temperature=due)
            if callback is not None:
                callback(self.step_count, x, v, e, f)
        return x, v, e, f


def system_name(system: System | str | None) -> str | None:
    """The name a run's fingerprint records for ``system``."""
    if system is None or isinstance(system, str):
        return system
    return getattr(system, "name", "") or type(system).__name__


class _JobTimeUsed(Exception):
    """Raised at a checkpoint when one job of a chain has used its time (caught in :func:`simulate`)."""


def simulate(model_path: Path, dataset: Path, p: dict, out: Path, device: str = "auto",
             threads: int | None = None, system: System | str | None = None,
             max_seconds: float | None = None) -> dict:
    """Run ``p['n_replicas']`` replicas of the model; ``system`` picks the start frames (default:
    random training frames).

    Resumes from ``<out dir>/work`` only when it was made by the same fingerprint: ``p`` (every
    key), the content of the model file and of the dataset, and the system; otherwise the work
    folder, ``out`` and ``<stem>.failed.npz`` are discarded and the run starts fresh. On a
    :class:`SimulationError` the frames saved so far go to ``<stem>.failed.npz`` and the error is
    re-raised (the work folder stays: a rerun with the same fingerprint fails the same way).
    With ``max_seconds`` (one job of a chain) the run stops at the first checkpoint after which
    another checkpoint interval would overrun it and returns ``complete`` False; the next call
    resumes there and gives the same frames as one uninterrupted run.
    """
    out = Path(out)
    failed = out.with_name(out.stem + ".failed.npz")
    work, ckpt_path, dev = prepare_stage(out, threads, device, "simulate", "float32 model, float64 integrator")
    pot = load_potential(model_path, device=dev, dtype=torch.float32)
    for q in pot.parameters():
        q.requires_grad_(False)
    data = load_dataset(dataset)
    check_beads(pot, data["z"], model_path, dataset)
    boxes = frame_boxes(data)
    box_np = None if boxes is None else boxes[0].astype(np.float64)
    masses = data["masses"]
    R, n_steps, every = int(p["n_replicas"]), int(p["n_steps"]), int(p["save_interval"])
    ck_every = max(every, int(p["checkpoint_interval"]) // every * every)
    save_forces = bool(p.get("save_forces", False))
    if n_steps < every:
        raise ParamsError(f"simulate.n_steps ({n_steps}) must be >= simulate.save_interval ({every})")
    band = p.get("temperature_band", DEFAULT_BAND)
    if not (isinstance(band, (list, tuple)) and len(band) == 2 and 0 <= float(band[0]) < 1 < float(band[1])):
        raise ParamsError(f"simulate.temperature_band must be [low, high] with 0 <= low < 1 < high, got {band}")
    frac = float(p.get("max_step_fraction_of_cutoff", DEFAULT_MAX_STEP_FRACTION))
    if not frac > 0:
        raise ParamsError(f"simulate.max_step_fraction_of_cutoff must be > 0, got {frac}")
    cutoff = float(pot.cutoff)
    box32 = None if box_np is None else torch.tensor(box_np, dtype=torch.float32, device=dev)
    if box_np is not None:
        check_box(torch.as_tensor(box_np), cutoff)  # once, on the host: not a device sync per step

    def force_fn(x):
        e, f = pot(x.to(torch.float32), box32, check_box=False)
        return e.detach().to(x.dtype), f.detach().to(x.dtype)

    gen = torch.Generator(device=dev)
    gen.manual_seed(int(p["seed"]))
    integ = LangevinBAOAB(force_fn, masses, float(p["timestep_fs"]) / 1000.0, float(p["friction_per_ps"]),
                          float(p["temperature_K"]), box=box_np, generator=gen, temperature_band=band,
                          check_every=every, max_step_A=frac * cutoff,
                          max_step_why=f" (max_step_fraction_of_cutoff {frac:g} × cutoff {cutoff:g} Å)")
    integ.final_step = n_steps
    # the generator state is device-specific (CUDA 16 bytes, CPU 5,056): a checkpoint resumes on its own device type
    fp = fingerprint({"simulate": p, "system": system_name(system), "device": dev.type}, files=[model_path, dataset])
    resume = claim_work(work, fp, "CG simulation", also=[out, failed]) and ckpt_path.exists()
    if resume:
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        x, v, f = ck["x"].to(dev), ck["v"].to(dev), ck["f"].to(dev)
        integ.step_count, n_chunks = ck["step"], ck["chunks"]
        gen.set_state(ck["gen"].cpu())  # generator states are CPU byte tensors on every device
        log(f"resuming from step {integ.step_count}/{n_steps} ({n_chunks} chunks saved; fingerprint {fp})")
    else:
        for old in work.glob("chunk_*.npz"):  # same fingerprint, killed before its first checkpoint
            old.unlink()
        rng = np.random.default_rng(int(p["seed"]))
        sysobj = System() if system is None else (get_system(system) if isinstance(system, str) else system)
        start = sysobj.start_frames(data, R, rng)
        x = wrap(torch.tensor(data["coords"][start].astype(np.float64), device=dev),
                 None if box_np is None else torch.tensor(box_np, device=dev))
        v = integ.init_velocities(x)
        _, f = force_fn(x)
        n_chunks = 0
    buf: dict[str, list] = {"coords": [], "forces": [], "energies": []}
    t0, s0 = time.perf_counter(), integ.step_count
    report_every = max(every, n_steps // 20 // every * every)
    attrs = {"dt_fs": float(p["timestep_fs"]), "save_interval": every, "temperature_K": float(p["temperature_K"]),
             "friction_per_ps": float(p["friction_per_ps"]), "seed": int(p["seed"]), "fingerprint": fp}

    def flush(step):
        """The frames kept on the device since the last checkpoint, to the host in one copy per array."""
        nonlocal n_chunks
        if buf["coords"]:
            arrays = {k: torch.stack(vals, dim=1).cpu().numpy() for k, vals in buf.items() if vals}
            np.savez(work / f"chunk_{n_chunks:06d}.npz", **arrays)
            n_chunks += 1
            for vals in buf.values():
                vals.clear()

    budget = JobBudget(max_seconds)

    def callback(step, x_, v_, e_, f_):
        if step % every == 0:
            # saved frames stay on the device until the next checkpoint (no host copy per frame)
            buf["coords"].append(x_.to(torch.float32))
            buf["energies"].append(e_.to(torch.float32))
            if save_forces:
                buf["forces"].append(f_.to(torch.float32))
        if step % ck_every == 0 or step == n_steps:
            flush(step)
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save({"x": x_, "v": v_, "f": f_, "step": step, "chunks": n_chunks, "gen": gen.get_state(),
                        "fingerprint": fp}, tmp)
            tmp.replace(ckpt_path)
            if step < n_steps and budget.spent():
                raise _JobTimeUsed(step)
        if step % report_every == 0 or step == n_steps:
            el = time.perf_counter() - t0
            rate = (step - s0) * R / max(el, 1e-9)
            T = integ.last_temperature  # averaged over the last check interval, read by the check's one sync
            log(f"step {step}/{n_steps}  T_kin {T:.1f} K  {rate:.1f} replica-steps/s")

    log(f"{R} replicas × {data['coords'].shape[1]} beads, {n_steps} steps of {p['timestep_fs']} fs on {dev}; "
        f"stops if T_kin leaves [{band[0]:g}, {band[1]:g}] × {float(p['temperature_K']):g} K or a bead "
        f"moves > {frac * cutoff:.3g} Å in a step")
    try:
        integ.run(x, v, f, n_steps - integ.step_count, callback)
    except _JobTimeUsed as stop:
        log(f"job time nearly used: stopping at step {stop.args[0]}/{n_steps}; the next job resumes here")
        return {"complete": False, "step": int(stop.args[0]), "of": n_steps}
    except SimulationError as exc:
        flush(integ.step_count)
        n_saved = _assemble(work, n_chunks, failed, box_np, data, p, save_forces, attrs)
        log(f"stopped: {exc}; the {n_saved} frames saved before it are in {failed}")
        raise
    elapsed = time.perf_counter() - t0
    _assemble(work, n_chunks, out, box_np, data, p, save_forces, attrs)
    release_work(work)
    return {"complete": True, "replica_steps_per_s": (n_steps - s0) * R / max(elapsed, 1e-9), "seconds": elapsed}


def _assemble(work: Path, n_chunks: int, out: Path, box, data, p, save_forces, attrs: dict) -> int:
    """Write the chunks as one trajectory file; returns the number of frames per replica."""
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
             masses=data["masses"], **attrs, **res)
    return int(res["coords"].shape[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain simulate", description="Batched CG Langevin simulation.")
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--dataset", required=True, type=Path, help="CG dataset: masses, box and start frames")
    ap.add_argument("--params", required=True, help="JSON: the simulate section plus seed")
    ap.add_argument("--system", default=None, help="registered system: picks the start frames")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    add_chain_arguments(ap)
    a = ap.parse_args(argv)
    pick_device(a.device)  # a device this machine cannot give: one error line before anything is read
    try:
        p = load_params(a.params, SIM_KEYS, "simulate params")
        info = simulate(a.model, a.dataset, p, a.out, a.device, a.threads, a.system, a.max_seconds)
        write_status(a.status, **info)
    except (InputError, ParamsError) as exc:
        return report("simulate", exc)
    except SimulationError as exc:
        return report("simulate", exc, rc=1)
    log(f"done: {info}")
    return 0
