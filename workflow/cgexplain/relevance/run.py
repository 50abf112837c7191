"""``cgexplain relevance``: GNN-LRP walk relevances of sampled frames, aggregated per frame.

Usage::

    cgexplain relevance --model model.pt (--dataset dataset.npz | --trajectory trajectory.npz)
        --out relevance.npz [--n-frames 20] [--gamma 0.1] [--dtype float64] [--device auto]
        [--seed 2025]

Frame sources: the CG dataset (``coords`` (F, N, 3) Å, ``box`` (F, 3) Å, ``z`` (N,)) or a CG
simulation trajectory (``coords`` (R, F, N, 3) Å, ``box`` (3,) Å, ``z`` (N,); replicas are
flattened replica-major). Both are read through the checking loaders of :mod:`cgexplain.data.dataset`
(NaN coordinates, bad shapes, truncated files are refused in one line naming the file), and their
beads must be the model's. ``--n-frames`` frames are taken evenly spaced over all frames, starting at
a seeded random offset within the first stride. Frames are computed one at a time and saved as
``<out>.parts/frame_#####.npz``; a rerun resumes from there only when the parts were made by the same
fingerprint (the settings and the content of the model and input files, see
:func:`cgexplain.core.runtime.claim_work`), so a model retrained at the same path starts fresh. The output
is written atomically once every frame is done, and the parts folder is removed.

Output file (npz, format ``cgexplain-relevance/1``). F frames, N beads, L interactions;
"norm" is |Σ_walks R| / n_walks of the frame, and every ``*_rnorm`` array is relevance / norm:

* metadata (0-d): ``format``, ``arch``, ``gamma``, ``cutoff`` (Å), ``n_interactions``, ``source``
  ("dataset" | "trajectory"), ``input``, ``model``, ``dtype``, ``seed``
* per frame: ``frame_index`` (F,) index of the frame in the source (flattened for trajectories),
  ``box`` (F, 3) Å, ``energy`` (F,) network energy (prior excluded) in model units, ``total`` (F,)
  Σ of all walk relevances, ``n_walks`` (F,), ``norm`` (F,), ``order_totals`` (F, L+1) Σ of the
  relevances of walks visiting exactly 1, 2, …, L+1 distinct beads, ``r1`` (F, N) 1-body relevance
  (the walk that stays on one bead), ``bead_total`` (F, N) per-bead relevance: each walk's relevance
  shared equally by the distinct beads it visits (the beads' totals add up to ``total``)
* 2-body, one row per bead pair visited by some walk: ``pair_frame``, ``pair_i`` < ``pair_j``,
  ``pair_r``, ``pair_rnorm``, ``pair_dist`` (minimum-image distance, Å)
* individual 2-body walks (for the walk-relevance distributions): ``walk2_frame``, ``walk2_r``,
  ``walk2_rnorm``, ``walk2_dist`` (Å)
* 3-body, one row per triplet visited by some walk: ``trip_frame``, ``trip_i`` < ``trip_j`` <
  ``trip_k``, ``trip_r``, ``trip_rnorm``, ``trip_theta`` (largest angle, degrees), ``trip_L``
  (opposite edge, Å), ``trip_a`` <= ``trip_b`` (the two adjacent edges, Å)
* every walk, only when asked for (``cgexplain explain --walks``): ``walk_frame``, ``walk_nodes`` (W, L+1)
  the beads a0..aL, ``walk_r``

``cgexplain explain`` (:mod:`cgexplain.explain`) writes the same format, with a few metadata of its own
(``z``, ``model_kind``, ``spk_version``, ``frames_spec``, ``stride``, ``energy_unit``) and the energy offsets
of a SchNetPack model's ``AddOffsets`` postprocessors, a 1-body term the network does not see and the walks do
not explain (all zero without them): ``offset_energy`` (F,) the constant the model adds to each frame's
``energy`` (the model's energy is ``energy + offset_energy``), ``offset_bead`` (N,) per bead,
``offset_types`` (T,) and ``offset_per_type`` (T,) per bead of each type, ``offsets_from`` (which
postprocessors; "" without).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..core.errors import InputError, report
from ..core.runtime import claim_work, fingerprint, release_work, save_npz
from ..data.sampling import evenly_spaced

FORMAT = "cgexplain-relevance/1"
PER_FRAME = ("frame_index", "box", "energy", "total", "n_walks", "norm", "order_totals", "r1", "bead_total")
GROUPS = {
    "pair": ("pair_i", "pair_j", "pair_r", "pair_rnorm", "pair_dist"),
    "walk2": ("walk2_r", "walk2_rnorm", "walk2_dist"),
    "trip": ("trip_i", "trip_j", "trip_k", "trip_r", "trip_rnorm", "trip_theta", "trip_L",
             "trip_a", "trip_b"),
}
#: Rows written only on request (``cgexplain explain --walks``): every walk of every frame.
WALK_GROUP = ("walk_nodes", "walk_r")
#: Version of the per-frame part files: parts of another version are never resumed.
PARTS_VERSION = 2


def load_frames(dataset: str | None, trajectory: str | None):
    """(coords (M, N, 3), boxes (M, 3) or None, z (N,), source name, path), through the checking
    loaders (:func:`cgexplain.data.dataset.load_dataset`, :func:`cgexplain.data.dataset.load_trajectory`)."""
    from ..data.dataset import frame_boxes, load_dataset, load_trajectory

    path = Path(dataset or trajectory)
    if dataset:
        d = load_dataset(path)
        coords, boxes = d["coords"], frame_boxes(d)
    else:
        d = load_trajectory(path)
        coords = d["coords"].reshape(-1, d["coords"].shape[-2], 3)
        periodic = bool(d["periodic"]) if "periodic" in d else True
        boxes = np.broadcast_to(d["box"].reshape(1, 3), (coords.shape[0], 3)) if periodic else None
    return coords, boxes, d["z"].reshape(-1), ("dataset" if dataset else "trajectory"), str(path)


def select_frames(n_total: int, n: int, seed: int) -> np.ndarray:
    """``n`` evenly spaced frame indices with a seeded offset (all frames if n >= n_total)."""
    if n <= 0:
        raise InputError(f"--n-frames must be positive, got {n}")
    return evenly_spaced(n_total, n, seed)


def chunk_of(frames: np.ndarray, chunk: int | None, size: int | None) -> np.ndarray:
    """Chunk ``chunk`` of ``size`` frames of the selection (empty past its end); all without a chunk."""
    if chunk is None and size is None:
        return frames
    if chunk is None or size is None or chunk < 0 or size < 1:
        raise InputError(f"--chunk and --chunk-size go together (chunk >= 0, size >= 1); got {chunk}, {size}")
    return frames[chunk * size:(chunk + 1) * size]


def gather(parts: list[str | Path], out: str | Path) -> int:
    """Join relevance files of chunks of one selection (in chunk order) into one file of the same
    format: per-frame arrays and rows concatenated, the rows' frame numbers shifted. The metadata
    (model, input, gamma, ...) must agree. Returns the number of frames."""
    from ..data.dataset import read_npz

    datas = [read_npz(p, "relevance chunk") for p in parts]
    if not datas:
        raise InputError("relevance-gather: no chunk files given")
    rows = {f"{g}_frame" for g in GROUPS} | {k for keys in GROUPS.values() for k in keys}
    meta = {k: v for k, v in datas[0].items() if k not in PER_FRAME and k not in rows}
    for p, d in zip(parts[1:], datas[1:]):
        for k, v in meta.items():
            if k not in d or not np.array_equal(np.asarray(d[k]), np.asarray(v)):
                raise InputError(f"relevance chunk {p}: '{k}' differs from {parts[0]}: chunks of different runs")
    res = dict(meta)
    for k in PER_FRAME:
        res[k] = np.concatenate([d[k] for d in datas])
    offsets = np.cumsum([0] + [len(d["frame_index"]) for d in datas[:-1]])
    for g, keys in GROUPS.items():
        res[f"{g}_frame"] = np.concatenate([d[f"{g}_frame"] + off for d, off in zip(datas, offsets)])
        for k in keys:
            res[k] = np.concatenate([d[k] for d in datas])
    save_npz(out, **res)
    return len(res["frame_index"])


def main_gather(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain relevance-gather",
                                 description="join the relevance files of the chunks of one run")
    ap.add_argument("--out", required=True)
    ap.add_argument("parts", nargs="+", help="chunk files, in chunk order")
    a = ap.parse_args(argv)
    try:
        n = gather(a.parts, a.out)
    except InputError as exc:
        return report("relevance-gather", exc)
    print(f"[relevance] gathered {len(a.parts)} chunk(s), {n} frames -> {a.out}", file=sys.stderr)
    return 0


def frames_from_file(path: str, key: str | None, n_total: int) -> np.ndarray:
    """Frame indices stored as array ``key`` of npz file ``path`` (may be empty)."""
    if not key:
        raise InputError("--frames-npz needs --frames-key")
    from ..data.dataset import read_npz

    d = read_npz(path, "frames file")
    if key not in d:
        raise InputError(f"{path}: no array {key!r} (has {sorted(d)})")
    idx = np.asarray(d[key], dtype=np.int64).reshape(-1)
    if len(idx) and (idx.min() < 0 or idx.max() >= n_total):
        raise InputError(f"{path}: {key} indexes frames outside [0, {n_total})")
    return idx


def mutate(pot, spec: str) -> None:
    """Apply ``BEAD:RESIDUE`` to the model's bead types (the embedding of that bead changes)."""
    from ..core.residues import residue_type

    try:
        bead, res = spec.split(":")
        bead = int(bead)
        z_new = residue_type(res)
    except ValueError as e:
        raise InputError(f"--mutate {spec!r}: expected BEAD:RESIDUE such as 3:ASN ({e})") from None
    if not 0 <= bead < pot.n_beads:
        raise InputError(f"--mutate {spec!r}: bead {bead} outside [0, {pot.n_beads})")
    pot.z[bead] = z_new


def compute_frame(pot, pos: np.ndarray, box: np.ndarray, gamma: float, dtype, device,
                  keep_walks: bool = False) -> dict:
    """Walk relevances of one frame, aggregated (:func:`cgexplain.relevance.aggregate.aggregate_frame`) and
    normalised; with ``keep_walks`` also every walk (``walk_nodes`` (W, L+1), ``walk_r`` (W,))."""
    from .aggregate import aggregate_frame
    from .engine import walk_relevance

    p = torch.as_tensor(pos, dtype=dtype, device=device)
    b = None if box is None else torch.as_tensor(np.array(box), dtype=dtype, device=device)
    res = walk_relevance(pot, p, b, gamma=gamma)
    agg = aggregate_frame(res.walks, res.relevance, pos, box, len(pos))
    agg["energy"] = res.energy
    nrm = agg["norm"] if agg["norm"] > 0 else 1.0
    for g in ("pair", "walk2", "trip"):
        agg[f"{g}_rnorm"] = agg[f"{g}_r"] / nrm
    if keep_walks:
        agg["walk_nodes"], agg["walk_r"] = res.walks, res.relevance
    return agg


def explain_frames(pot, coords, boxes, frames, parts_dir: Path, gamma: float, dtype, device,
                   keep_walks: bool = False, stage: str = "relevance", progress: bool = False) -> list[dict]:
    """Explain ``frames`` (indices into ``coords``) one at a time; each frame is saved as
    ``parts_dir/frame_#####.npz`` as soon as it is done and read back instead of recomputed on a rerun
    (the caller has claimed ``parts_dir`` for its fingerprint). ``progress``: a progress bar (tqdm) on a
    terminal instead of one log line per frame. A frame the engine refuses raises ``ValueError`` naming it."""
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(frames), unit="frame", desc=stage, file=sys.stderr)
    parts = []
    for k, f in enumerate(frames):
        pf = parts_dir / f"frame_{k:05d}.npz"
        t0 = time.perf_counter()
        if pf.exists():
            with np.load(pf) as d:
                parts.append({key: d[key] for key in d.files})
            note = "resumed"
        else:
            box = None if boxes is None else boxes[f]
            try:
                agg = compute_frame(pot, coords[f], box, gamma, dtype, device, keep_walks)
            except ValueError as exc:
                raise ValueError(f"frame {f}: {exc}") from None
            agg["frame_index"] = int(f)
            agg["box"] = np.zeros(3) if box is None else np.asarray(box, dtype=np.float64)
            save_npz(pf, **{key: np.asarray(v) for key, v in agg.items()})
            parts.append(agg)
            note = (f"{agg['n_walks']} walks, ΣR={agg['total']:.4g}, E={agg['energy']:.4g}, "
                    f"{time.perf_counter() - t0:.1f} s")
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"source frame {f}: {note}", refresh=False)
        else:
            print(f"[{stage}] frame {k + 1}/{len(frames)} (source frame {f}): {note}", file=sys.stderr, flush=True)
    if bar is not None:
        bar.close()
    return parts


def assemble(parts: list[dict], meta: dict, n_beads: int, n_layers: int) -> dict:
    out = {k: np.asarray(v) for k, v in meta.items()}
    empty = {"frame_index": (0,), "box": (0, 3), "energy": (0,), "total": (0,), "n_walks": (0,), "norm": (0,),
             "order_totals": (0, n_layers + 1), "r1": (0, n_beads), "bead_total": (0, n_beads)}
    for k in PER_FRAME:
        out[k] = np.stack([np.asarray(p[k]) for p in parts]) if parts else np.zeros(empty[k])
    for g, keys in GROUPS.items():
        first = keys[0]
        out[f"{g}_frame"] = np.concatenate([np.full(len(p[first]), f, dtype=np.int64) for f, p in enumerate(parts)]
                                           or [np.zeros(0, np.int64)])
        for k in keys:
            out[k] = np.concatenate([np.asarray(p[k]) for p in parts] or [np.zeros(0)])
    if parts and all(WALK_GROUP[0] in p for p in parts):
        out["walk_frame"] = np.concatenate([np.full(len(p["walk_r"]), f, dtype=np.int64) for f, p in enumerate(parts)])
        for k in WALK_GROUP:
            out[k] = np.concatenate([np.asarray(p[k]) for p in parts])
    return out


def main_relevance(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain relevance",
                                 description="GNN-LRP walk relevances aggregated per frame")
    ap.add_argument("--model", required=True, help="model file (model.pt)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="CG dataset npz (coords (F,N,3), box (F,3), z)")
    src.add_argument("--trajectory", help="CG trajectory npz (coords (R,F,N,3), box (3,), z)")
    ap.add_argument("--n-frames", type=int, default=20)
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--dtype", choices=("auto", "float64", "float32"), default="float64",
                    help="auto: float64 on the CPU, float32 on a GPU (core.device.resolve_dtype)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--out", required=True, help="output npz")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--frames-npz", help="npz file holding the frame indices to explain (instead of --n-frames)")
    ap.add_argument("--frames-key", help="array of --frames-npz with the frame indices")
    ap.add_argument("--mutate", action="append", default=[], metavar="BEAD:RESIDUE",
                    help="change bead BEAD (0-based) to amino-acid type RESIDUE before explaining")
    ap.add_argument("--chunk", type=int, default=None, metavar="K",
                    help="explain only chunk K (0-based) of --chunk-size of the selected frames (one job of "
                         "a scattered run; `cgexplain relevance-gather` joins the chunks)")
    ap.add_argument("--chunk-size", type=int, default=None)
    args = ap.parse_args(argv)

    from ..core.device import describe, pick_device, resolve_dtype
    from ..nn.models import check_beads, load_potential

    try:
        coords, boxes, z, source, in_path = load_frames(args.dataset, args.trajectory)
        device = pick_device(args.device)
        dtype = resolve_dtype(args.dtype, device)
        pot = load_potential(args.model, device=device, dtype=dtype)
        check_beads(pot, z, args.model, in_path, source)
        for m in args.mutate:
            mutate(pot, m)
        frames = (frames_from_file(args.frames_npz, args.frames_key, len(coords)) if args.frames_npz
                  else select_frames(len(coords), args.n_frames, args.seed))
        frames = chunk_of(frames, args.chunk, args.chunk_size)
    except (InputError, ValueError, FileNotFoundError) as exc:
        return report("relevance", exc)

    print(f"[relevance] {describe(device, dtype)}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts_dir = out.with_name(out.name + ".parts")
    settings = {"source": source, "frames": frames.tolist(), "gamma": args.gamma, "dtype": str(dtype),
                "mutate": args.mutate, "parts": PARTS_VERSION, "device": device.type}
    claim_work(parts_dir, fingerprint(settings, files=[args.model, in_path]), "relevance")

    try:
        parts = explain_frames(pot, coords, boxes, frames, parts_dir, args.gamma, dtype, device)
    except ValueError as exc:
        print(f"cgexplain relevance: error in {exc}", file=sys.stderr)
        return 2

    meta = {"format": FORMAT, "arch": pot.cfg.arch, "gamma": args.gamma, "cutoff": pot.cutoff,
            "n_interactions": pot.cfg.n_interactions, "source": source, "input": in_path,
            "model": args.model, "dtype": str(dtype).replace("torch.", ""), "seed": args.seed, "mutations": np.array(args.mutate, dtype=str)}
    save_npz(out, **assemble(parts, meta, pot.n_beads, pot.cfg.n_interactions))
    release_work(parts_dir)
    print(f"[relevance] wrote {out} ({len(parts)} frames)", file=sys.stderr)
    return 0
