"""Speed, melting curve, folding kinetics and state populations of the NTL9 Gō model (ground truth).

    python benchmarks/bench_go.py                        # everything at the defaults (~10 min of one core)
    python benchmarks/bench_go.py --only speed
    python benchmarks/bench_go.py --temps 330 350 370 --replicas 8 --ns 4 --go eps_kcal=0.8 helix_scale=0.5

All simulations run on OpenMM's CPU platform with ONE thread (the speed test also with two), with
``LangevinMiddleIntegrator`` 10 fs, friction 1/ps, beads of 100 amu. Replicas of one temperature run
as non-interacting copies in one context (``ntl9_go.openmm_system(model, n_copies)``: every
interaction is an explicit list, so copies never see each other), which doubles the replica-steps
per second of a single small context. Half the replicas start folded, half from structures unfolded
for 100 ps at 800 K; the first ``--discard-ns`` of every replica are left out of the statistics.

Reported per temperature: mean Q (all native contacts, formed at d < 1.2 σ_ij), the fraction folded
(Q ≥ 0.7; also the fraction in state F of :mod:`cgexplain.analysis.folding`), the state populations F, U,
P1, P2, other (:func:`cgexplain.analysis.folding.classify` on the element contact fractions of the shipped
structure: Cα contacts < 8 Å, tolerance 1.2, formed ≥ 0.7, broken < 0.3), and the folding and
unfolding events: transitions between Q ≥ 0.7 and Q ≤ 0.3 (the last core visited decides, so
recrossings inside the barrier region do not count), per replica per µs of simulated time and per
replica per hour of one CPU core running one replica at the measured single-replica speed.

Energy scaling: every term is proportional to ε, so a run at temperature T with ε equals a run at
T·ε'/ε with ε' (same kinetics up to the friction and mass, which do not scale). The script prints the
ε that would put the measured midpoint (fraction Q ≥ 0.7 = fraction Q ≤ 0.3) at ``--target-K``.

Measured (defaults of ``GoParams``: ε = 0.80 kcal/mol; 5 temperatures × 8 replicas × 3 ns, 2.5 ns kept;
one core shared with other work: 9 CPU-min, 14 min wall):

=====  ======  =====  =====  =====  =====  =====  ==================
T/K    Q≥0.7   F      U      P1     P2     other  events/replica/µs
=====  ======  =====  =====  =====  =====  =====  ==================
320    0.886   0.548  0.001  0.001  0.003  0.448   50
335    0.565   0.320  0.022  0.000  0.022  0.636  300
350    0.434   0.202  0.058  0.002  0.009  0.730  450
365    0.031   0.011  0.183  0.001  0.022  0.783  400
380    0.000   0.000  0.260  0.001  0.018  0.722    0
=====  ======  =====  =====  =====  =====  =====  ==================

Midpoint 354 K. A longer run at 350 K (``--only melt --temps 350 --ns 6``; 8 replicas, 44 ns kept,
2.6 CPU-min): Q ≥ 0.7 0.407, F 0.197, U 0.058, P1 0.002, P2 0.011, other 0.731; 26 events, per
replica 3, 0, 7, 6, 1, 3, 3, 3 (591 per replica per µs, ~210 per replica per CPU-hour).

Speed (one replica, CPU platform): 7,800 steps/s on 1 thread (10,600 on an idle core), 3,950 on 2 threads (a 39-bead system is too small to split); batches of 8–16 copies on one
thread: 20,000–22,700 replica-steps/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

import numpy as np  # noqa: E402
import openmm  # noqa: E402
from cgexplain.analysis import folding  # noqa: E402
from cgexplain.data.structure import ca_coordinates, secondary_structure  # noqa: E402
from cgexplain.systems import ntl9_go as go  # noqa: E402
from openmm import unit  # noqa: E402

DT_FS, FRICTION = 10.0, 1.0
Q_HI, Q_LO = 0.7, 0.3


def _context(model, n_copies, T, threads=1, seed=1):
    s = go.openmm_system(model, n_copies)
    integ = openmm.LangevinMiddleIntegrator(T * unit.kelvin, FRICTION / unit.picosecond, DT_FS * unit.femtosecond)
    integ.setRandomNumberSeed(seed)
    ctx = openmm.Context(s, integ, openmm.Platform.getPlatformByName("CPU"), {"Threads": str(threads)})
    return ctx, integ


def speed(model, seconds=4.0):
    """Steps/s of one replica on 1 and 2 threads, and replica-steps/s of batches on 1 thread."""
    rows = []
    for threads, copies in ((1, 1), (2, 1), (1, 8), (1, 16)):
        ctx, integ = _context(model, copies, 350.0, threads)
        ctx.setPositions(np.tile(model.native, (copies, 1)) * 0.1)
        ctx.setVelocitiesToTemperature(350.0 * unit.kelvin, 1)
        integ.step(500)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            integ.step(1000)
            n += 1000
        dt = time.perf_counter() - t0
        rows.append({"threads": threads, "copies": copies, "steps_per_s": n / dt, "replica_steps_per_s": n * copies / dt,
                     "us_per_day_per_replica": n / dt * DT_FS * 1e-9 * 86400})
    return rows


def unfolded_starts(model, n, seed=7, T=800.0, ps=100.0):
    """``n`` structures unfolded at ``T`` for ``ps`` from the native structure (Å)."""
    ctx, integ = _context(model, n, T, seed=seed)
    ctx.setPositions(np.tile(model.native, (n, 1)) * 0.1)
    ctx.setVelocitiesToTemperature(T * unit.kelvin, seed)
    integ.step(int(round(ps * 1000 / DT_FS)))
    x = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    return np.asarray(x).reshape(n, model.n_beads, 3)


def run_temperature(model, T, replicas, ns, save_ps=10.0, seed=1, starts=None):
    """(frames (R, F, N, 3) Å, seconds): ``replicas`` copies at ``T`` for ``ns`` each."""
    ctx, integ = _context(model, replicas, T, seed=seed)
    x0 = np.tile(model.native, (replicas, 1, 1)) if starts is None else starts
    ctx.setPositions(x0.reshape(-1, 3) * 0.1)
    ctx.setVelocitiesToTemperature(T * unit.kelvin, seed)
    steps = int(round(save_ps * 1000 / DT_FS))
    n_frames = int(round(ns * 1000 / save_ps))
    out = np.empty((n_frames, replicas, model.n_beads, 3), np.float32)
    t0 = time.perf_counter()
    for k in range(n_frames):
        integ.step(steps)
        x = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)
        out[k] = np.asarray(x).reshape(replicas, model.n_beads, 3)
    return out.transpose(1, 0, 2, 3), time.perf_counter() - t0


def q_native(model, X):
    i, j = model.contacts[:, 0], model.contacts[:, 1]
    d = np.linalg.norm(X[..., i, :] - X[..., j, :], axis=-1)
    return (d < 1.2 * model.contact_sigma).mean(-1)


def analyse(model, frames, discard_ns, save_ps, contacts, ca):
    R, F = frames.shape[:2]
    k0 = int(round(discard_ns * 1000 / save_ps))
    X = frames[:, k0:].astype(np.float64)
    q = q_native(model, X)                          # (R, F')
    fr = folding.contact_fractions(X.reshape(-1, model.n_beads, 3), contacts, ca)
    labels = folding.classify(fr).reshape(R, -1)
    tab = folding.state_table(labels.reshape(-1))
    tot = sum(tab.values())
    n_tr = [int(folding.folding_events(qr, None, Q_HI, Q_LO)[0]) for qr in q]
    return {"Q_mean": float(q.mean()), "folded_Q": float((q >= Q_HI).mean()),
            "unfolded_Q": float((q <= Q_LO).mean()),
            "states": {k: v / tot for k, v in tab.items()}, "transitions": n_tr,
            "sim_ns_per_replica": (F - k0) * save_ps / 1000.0,
            "Q_mean_per_replica": [float(v) for v in q.mean(1)]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("speed", "melt"), default=None)
    ap.add_argument("--temps", type=float, nargs="+", default=[320.0, 335.0, 350.0, 365.0, 380.0])
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--ns", type=float, default=3.0, help="simulated ns per replica and temperature")
    ap.add_argument("--discard-ns", type=float, default=0.5)
    ap.add_argument("--save-ps", type=float, default=10.0)
    ap.add_argument("--target-K", type=float, default=350.0)
    ap.add_argument("--go", nargs="*", default=[], metavar="KEY=VALUE", help="GoParams overrides")
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    ap.add_argument("--save-frames", type=Path, default=None, help="npz of the frames of every temperature")
    args = ap.parse_args(argv)

    over = {}
    for kv in args.go:
        k, v = kv.split("=", 1)
        over[k] = type(getattr(go.GoParams(), k))(float(v))
    params = dataclasses.replace(go.GoParams(), **over)
    model = go.build_model(params=params)
    print(f"Gō model: {json.dumps(model.summary())}", flush=True)
    print(f"params: {dataclasses.asdict(params)}", flush=True)
    result = {"params": dataclasses.asdict(params), "summary": model.summary()}

    if args.only in (None, "speed"):
        rows = speed(model)
        result["speed"] = rows
        print("\nthreads copies  steps/s  replica-steps/s  µs/day/replica")
        for r in rows:
            print(f"{r['threads']:7d} {r['copies']:6d} {r['steps_per_s']:8.0f} {r['replica_steps_per_s']:16.0f} "
                  f"{r['us_per_day_per_replica']:15.2f}")
    single = result["speed"][0]["steps_per_s"] if "speed" in result else 1.0e4

    if args.only in (None, "melt"):
        pdb = go._resolve(go.DEFAULT_STRUCTURE)
        ca = ca_coordinates(pdb)
        contacts = folding.native_contacts(ca, secondary_structure(pdb))
        n_unf = args.replicas // 2
        starts_u = unfolded_starts(model, n_unf) if n_unf else np.zeros((0, model.n_beads, 3))
        starts = np.concatenate([np.tile(model.native, (args.replicas - n_unf, 1, 1)), starts_u])
        rows, saved = [], {}
        for T in args.temps:
            frames, sec = run_temperature(model, T, args.replicas, args.ns, args.save_ps, starts=starts)
            a = analyse(model, frames, args.discard_ns, args.save_ps, contacts, ca)
            a.update(T=T, wall_s=sec)
            rows.append(a)
            if args.save_frames:
                saved[f"T{T:g}"] = frames
            s = a["states"]
            us = a["sim_ns_per_replica"] / 1000.0
            ev = np.mean(a["transitions"])
            print(f"T {T:5.1f} K  Q {a['Q_mean']:.2f}  folded(Q>=0.7) {a['folded_Q']:.2f}  unfolded(Q<=0.3) "
                  f"{a['unfolded_Q']:.2f}  F {s['F']:.3f} U {s['U']:.3f} P1 {s['P1']:.3f} P2 {s['P2']:.3f} "
                  f"other {s['other']:.3f}  transitions/replica {ev:.1f} ({ev / us:.0f}/µs)  "
                  f"per-replica Q {[round(v, 2) for v in a['Q_mean_per_replica']]}  [{sec:.0f} s]", flush=True)
        result["melt"] = rows
        Ts = np.array([r["T"] for r in rows])
        fq = np.array([r["folded_Q"] for r in rows])
        fu = np.array([r["unfolded_Q"] for r in rows])
        # midpoint: where folded and unfolded core populations cross
        diff = fq - fu
        mid = None
        for a_, b_ in zip(range(len(Ts) - 1), range(1, len(Ts))):
            if diff[a_] >= 0 > diff[b_]:
                mid = Ts[a_] + (Ts[b_] - Ts[a_]) * diff[a_] / (diff[a_] - diff[b_])
        print("\nmelting curve (fraction folded: Q >= 0.7; state F of cgexplain.analysis.folding)")
        print("   T/K   folded   F       U       P1      P2      other   events/replica/µs  events/replica/CPU-hour")
        for r in rows:
            s = r["states"]
            us = r["sim_ns_per_replica"] / 1000.0
            ev = np.mean(r["transitions"]) / us
            print(f"{r['T']:6.1f}  {r['folded_Q']:6.3f}  {s['F']:6.3f}  {s['U']:6.3f}  {s['P1']:6.3f}  {s['P2']:6.3f}  "
                  f"{s['other']:6.3f}  {ev:17.1f}  {ev * single * DT_FS * 1e-9 * 3600:23.1f}")
        if mid is not None:
            eps_new = params.eps_kcal * args.target_K / mid
            print(f"\nfolded = unfolded at {mid:.1f} K; eps_kcal = {eps_new:.4f} would put it at {args.target_K:g} K")
            result["midpoint_K"] = float(mid)
            result["eps_for_target"] = float(eps_new)
        if args.save_frames:
            np.savez_compressed(args.save_frames, **saved)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
