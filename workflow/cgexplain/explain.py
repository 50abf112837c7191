"""``cgexplain explain``: the 2- and 3-body relevances of any SchNetPack model on any trajectory.

Usage::

    cgexplain explain --model best_model --trajectory traj.xtc --top beads.pdb --out relevance.npz
        [--types element|residue|Z|Z1,Z2,...] [--box LX LY LZ | --box none] [--frames 0:100] [--stride 10]
        [--gamma 0.1] [--dtype float64] [--device auto|cpu|cuda] [--walks] [--csv]
        [--plots [--plot-scale energy|normalised] [--energy-unit kcal/mol]]

or from Python, :func:`explain` with the same options::

    from cgexplain.explain import explain
    res = explain("best_model", "traj.xtc", "relevance.npz", top="beads.pdb", stride=10, csv=True)

* **Model** (:func:`cgexplain.nn.spk_import.load_model`): SchNetPack's ``best_model`` (the pickled
  ``NeuralNetworkPotential``; PaiNN, SO3net or SchNet, saved by SchNetPack 2.0.x, 2.1.x or 2.2.x) or the
  workflow's ``model.pt``. The architecture and hyper-parameters are read from the modules; any part the
  engine does not support is refused in one line naming the module and the file's SchNetPack version.
  ``AddOffsets`` postprocessors (the mean and per-type atom references SchNetPack adds to the energy) are
  per-bead constants: the network is explained and the offsets are reported beside it as a 1-body term.
  Load only model files you trust (unpickling runs code).
* **Frames** (:func:`cgexplain.data.frames.read_frames`): any trajectory mdtraj reads (XTC, DCD, TRR, HDF5, PDB,
  …; ``--top`` for those without a topology), extended XYZ through ASE, or the workflow's dataset or
  trajectory npz. Bead types from the topology's elements or the npz (else ``--types``); box from the file
  (orthorhombic; triclinic is refused) unless ``--box``.
* **Output** (``--out``, npz, format ``cgexplain-relevance/1``, documented in :mod:`cgexplain.relevance.run`):
  per frame the energy of the network (without a prior or offsets), the sum of all walk relevances
  (``total``), the per-bead totals (``bead_total``), the 2-body table (``pair_i``, ``pair_j``, ``pair_dist``
  Å, ``pair_r``) and the 3-body table (``trip_i/j/k``, ``trip_theta`` largest angle in degrees, ``trip_L``
  opposite edge Å, ``trip_r``); every walk with ``--walks``. Extra metadata: ``z`` (bead types),
  ``model_kind`` ("schnetpack" | "cgexplain"), ``spk_version`` (the SchNetPack version the file was saved
  with; "" when it carries none), ``frames_spec``, ``stride``, ``energy_unit`` (``--energy-unit``, a label).
  The offsets, a 1-body term the network does not see (zero without ``AddOffsets``): ``offset_energy``
  (F,) the constant added to each frame's energy (the file's model gives ``energy + offset_energy``),
  ``offset_bead`` (N,) per bead, ``offset_types`` (T,) and ``offset_per_type`` (T,) per bead of each type,
  ``offsets_from`` (the postprocessors, e.g. "postprocessors.1 AddOffsets (mean, atomrefs)"; "" without).
  ``--csv`` writes ``<out>_pairs.csv``, ``<out>_triplets.csv`` and ``<out>_beads.csv`` (with each bead's
  ``offset``) beside it; ``--plots`` the Figure 2-style curve (``<out>_fig2.pdf/.png``: mean 2-body
  relevance vs distance over g(r), or the pair density without a box) and the Figure 3-style map
  (``<out>_fig3.pdf/.png``: mean 3-body relevance in (θ, L) bins; bins holding fewer than
  ``--min-triplets-per-bin`` triplets are left blank). The plots are in the model's energy unit
  (``--energy-unit``, default kcal/mol: relevances carry the unit of the model's energy); ``--plot-scale
  normalised`` draws relevance / norm instead (norm = |ΣR| / n_walks of each frame, the paper's form).
* Frames are explained one at a time, with a progress bar on a terminal (a log line per frame
  otherwise); each is kept in ``<out>.parts/`` and a rerun of the same command resumes there (only when the
  settings and the content of the model and trajectory files are the same). The output is written
  atomically at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from .core.errors import InputError, report
from .core.runtime import claim_work, fingerprint, log, release_work, save_npz
from .relevance.run import FORMAT, PARTS_VERSION, assemble, explain_frames


def explain(model: str | Path, trajectory: str | Path, out: str | Path, *, top: str | Path | None = None,
            types: str | int | None = None, box=None, frames: str | None = None, stride: int = 1,
            gamma: float = 0.1, dtype: str = "float64", device: str = "auto", walks: bool = False,
            csv: bool = False, plots: bool = False, min_triplets_per_bin: int = 5, bins: int = 50,
            plot_scale: str = "energy", energy_unit: str = "kcal/mol",
            progress: bool = True) -> dict[str, np.ndarray]:
    """Explain the frames ``frames``/``stride`` of ``trajectory`` with ``model``; write ``out`` (and the
    CSV tables and plots when asked) and return its arrays. Bad input raises
    :class:`cgexplain.core.errors.InputError` with one line naming the file, module or option."""
    from .core.device import describe, pick_device
    from .data.frames import bead_types, read_frames, select
    from .figures.explain import SCALES
    from .nn.spk_import import check_same_energy, load_model

    if dtype not in ("float64", "float32"):
        raise InputError(f"--dtype {dtype!r}: expected float64 or float32")
    if plot_scale not in SCALES:
        raise InputError(f"--plot-scale {plot_scale!r}: expected one of {', '.join(SCALES)}")
    fr = read_frames(trajectory, top=top, box=box)
    z = bead_types(fr, None if types is None else str(types))
    dev = pick_device(device)  # DeviceError (an InputError) names a device this machine cannot give
    tdtype = getattr(torch, dtype)
    log(describe(dev, tdtype), "explain")
    pot = load_model(model, z, device=dev, dtype=tdtype)
    z = pot.z.cpu().numpy()
    idx = select(fr.n_frames, frames, stride)
    first_box = None if fr.boxes is None else fr.boxes[idx[0]]
    if fr.boxes is not None:
        from .nn.neighbors import check_box

        try:
            check_box(torch.as_tensor(fr.boxes[idx].min(0)), pot.cutoff)
        except ValueError as e:
            raise InputError(f"trajectory {fr.path}: {e}") from None
    check_same_energy(pot, fr.coords[idx[0]], first_box)
    offsets = np.asarray(getattr(pot, "offsets", np.zeros(pot.n_beads)), dtype=np.float64).reshape(-1)
    types = np.unique(z)
    per_type = np.array([offsets[z == t][0] for t in types], dtype=np.float64)
    if offsets.any():
        log(f"the model adds {offsets.sum():.10g} to each frame's energy ({pot.offsets_from}; per bead of type "
            + ", ".join(f"{int(t)}: {v:.6g}" for t, v in zip(types, per_type))
            + "): a 1-body term the network does not see, reported as offset_energy, not explained", "explain")

    out = Path(out)
    parts_dir = out.with_name(out.name + ".parts")
    settings = {"frames": idx.tolist(), "gamma": gamma, "dtype": dtype, "walks": walks, "z": z.tolist(),
                "box": None if fr.boxes is None else fr.boxes[idx].tolist(), "parts": PARTS_VERSION}
    inputs = [model, trajectory] + ([top] if top is not None else [])
    claim_work(parts_dir, fingerprint(settings, files=inputs), "explain")
    log(f"explaining {len(idx)} frame(s) of {fr.path} ({fr.n_beads} beads, "
        f"{'box ' + ' × '.join(f'{v:.4g}' for v in first_box) + ' Å' if first_box is not None else 'open boundaries'}) "
        f"with the {pot.cfg.arch} of {model} ({pot.kind}, cutoff {pot.cutoff:g} Å, {pot.cfg.n_interactions} "
        f"interactions) on {dev}", "explain")
    try:
        parts = explain_frames(pot, fr.coords, fr.boxes, idx, parts_dir, gamma, tdtype, dev,
                               keep_walks=walks, stage="explain", progress=progress)
    except ValueError as e:
        raise InputError(f"trajectory {fr.path}, {e}") from None
    meta = {"format": FORMAT, "arch": pot.cfg.arch, "gamma": gamma, "cutoff": pot.cutoff,
            "n_interactions": pot.cfg.n_interactions, "source": fr.kind, "input": str(trajectory),
            "model": str(model), "model_kind": pot.kind, "dtype": dtype, "seed": 0, "z": z,
            "frames_spec": "" if frames is None else str(frames), "stride": stride,
            "mutations": np.array([], dtype=str), "spk_version": getattr(pot, "spk_version", None) or "",
            "energy_unit": energy_unit, "offset_bead": offsets, "offset_types": types, "offset_per_type": per_type,
            "offsets_from": getattr(pot, "offsets_from", "")}
    res = assemble(parts, meta, pot.n_beads, pot.cfg.n_interactions)
    res["offset_energy"] = np.full(len(res["frame_index"]), offsets.sum(), dtype=np.float64)
    save_npz(out, **res)
    release_work(parts_dir)
    log(f"wrote {out} ({len(parts)} frames)", "explain")
    if csv:
        for p in write_csv(res, out):
            log(f"wrote {p}", "explain")
    if plots:
        from .figures.explain import plot_explained

        for p in plot_explained(res, out, bins=bins, min_count=min_triplets_per_bin, scale=plot_scale):
            log(f"wrote {p}", "explain")
    return res


def sibling(out: Path, suffix: str) -> Path:
    return out.with_name(f"{out.stem}_{suffix}")


def write_csv(res: dict, out: str | Path) -> list[Path]:
    """The aggregated tables as CSV beside ``out``: pairs, triplets and per-bead totals, one row each per
    frame (``frame`` = row of the output file, ``source_frame`` = frame of the trajectory)."""
    import pandas as pd

    out = Path(out)
    src = np.asarray(res["frame_index"])
    tables = {
        "pairs": {"frame": res["pair_frame"], "source_frame": src[res["pair_frame"]], "i": res["pair_i"],
                  "j": res["pair_j"], "distance_A": res["pair_dist"], "relevance": res["pair_r"],
                  "relevance_norm": res["pair_rnorm"]},
        "triplets": {"frame": res["trip_frame"], "source_frame": src[res["trip_frame"]], "i": res["trip_i"],
                     "j": res["trip_j"], "k": res["trip_k"], "theta_deg": res["trip_theta"], "L_A": res["trip_L"],
                     "a_A": res["trip_a"], "b_A": res["trip_b"], "relevance": res["trip_r"],
                     "relevance_norm": res["trip_rnorm"]},
    }
    F, N = np.asarray(res["bead_total"]).shape
    tables["beads"] = {"frame": np.repeat(np.arange(F), N), "source_frame": np.repeat(src, N),
                       "bead": np.tile(np.arange(N), F), "type": np.tile(np.asarray(res["z"]), F),
                       "relevance_1body": np.asarray(res["r1"]).reshape(-1),
                       "relevance_total": np.asarray(res["bead_total"]).reshape(-1)}
    if "offset_bead" in res:  # the offsets (AddOffsets) per bead: constant, not part of the relevances
        tables["beads"]["offset"] = np.tile(np.asarray(res["offset_bead"], dtype=np.float64), F)
    paths = []
    for name, cols in tables.items():
        p = Path(str(sibling(out, name)) + ".csv")
        tmp = p.with_name(p.name + ".tmp")
        pd.DataFrame(cols).to_csv(tmp, index=False, float_format="%.10g")
        tmp.replace(p)
        paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain explain", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="SchNetPack best_model (pickled NeuralNetworkPotential) or model.pt")
    ap.add_argument("--trajectory", required=True,
                    help="XTC, DCD, TRR, HDF5, PDB, … (mdtraj), extXYZ (ASE), or the workflow's npz")
    ap.add_argument("--top", help="topology for formats without one (PDB, GRO, PSF, mdtraj HDF5)")
    ap.add_argument("--types", help="bead types: element | residue | one integer | N comma-separated integers "
                                    "(default: the file's)")
    ap.add_argument("--box", nargs="+", metavar="L",
                    help="orthorhombic box LX LY LZ in Å for every frame, or 'none' for open boundaries "
                         "(default: the file's)")
    ap.add_argument("--frames", metavar="SPEC", help="frames to explain: 0,5,10-20 or start:stop:step (default: all)")
    ap.add_argument("--stride", type=int, default=1, help="every k-th frame of the selection")
    ap.add_argument("--out", required=True, help="output npz")
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--walks", action="store_true", help="also store every walk and its relevance")
    ap.add_argument("--csv", action="store_true", help="also write the pair, triplet and bead tables as CSV")
    ap.add_argument("--plots", action="store_true", help="also draw the Figure 2- and Figure 3-style plots")
    ap.add_argument("--min-triplets-per-bin", type=int, default=5, help="--plots: blank (θ, L) bins with fewer")
    ap.add_argument("--plot-scale", choices=("energy", "normalised"), default="energy",
                    help="--plots: relevance in the model's energy unit (default) or relevance / norm "
                         "(norm = |ΣR| / n_walks per frame)")
    ap.add_argument("--energy-unit", default="kcal/mol",
                    help="the model's energy unit, written on the plots' axes (default kcal/mol)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    box = None if a.box is None else (a.box[0] if len(a.box) == 1 else a.box)
    try:
        explain(a.model, a.trajectory, a.out, top=a.top, types=a.types, box=box, frames=a.frames, stride=a.stride,
                gamma=a.gamma, dtype=a.dtype, device=a.device, walks=a.walks, csv=a.csv, plots=a.plots,
                min_triplets_per_bin=a.min_triplets_per_bin, plot_scale=a.plot_scale, energy_unit=a.energy_unit)
    except InputError as exc:
        return report("explain", exc)
    return 0


__all__ = ["explain", "main", "write_csv"]
