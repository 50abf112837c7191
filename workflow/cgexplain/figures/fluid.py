"""Figures of the fluid structure comparison (AA reference vs CG models).

Each figure is one call: ``cgexplain plot <figure> --obs SYSTEM:SOURCE:observables.npz ... --out fig.pdf``
writes ``fig.pdf`` and ``fig.png``. Figures: ``rdf`` (Figure 2's RDF curves), ``structure``
(Supplementary S1-style RDF / local angle / q panels), ``triplets`` (Supplementary S7: (θ, L)
distribution of triplets within each model's cutoff, AA vs CG), ``cutoff`` (Supplementary S2: one
architecture at several cutoffs; sources ``aa`` and ``<arch>_c<cutoff>``, e.g. ``painn_c4``, ``painn_c4p5``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.config import parse_cutoff_model
from . import style
from .style import save, source_style

plt = style.pyplot()


def parse_obs(items: list[str]) -> dict[str, dict[str, dict]]:
    """``SYSTEM:SOURCE:path`` items → {system: {source: observables}} (order kept)."""
    out: dict[str, dict[str, dict]] = {}
    for it in items:
        try:
            system, source, path = it.split(":", 2)
        except ValueError:
            raise ValueError(f"--obs item {it!r} is not SYSTEM:SOURCE:PATH") from None
        if not Path(path).exists():
            raise FileNotFoundError(f"observables file {path} does not exist")
        with np.load(path) as d:
            out.setdefault(system, {})[source] = {k: d[k] for k in d.files}
    return out


def plot_rdf(obs, out: Path) -> None:
    systems = list(obs)
    fig, axes = plt.subplots(1, len(systems), figsize=(4.2 * len(systems), 3.3), squeeze=False)
    for ax, s in zip(axes[0], systems):
        for src, o in obs[s].items():
            ax.plot(o["rdf_r"], o["rdf_g"], **source_style(src))
        ax.set(title=s, xlabel="r (Å)", ylabel="g(r)")
        ax.axhline(1.0, color=style.GUIDE_COLOUR, lw=0.8, zorder=0)
    axes[0, 0].legend(frameon=False)
    save(fig, out)


def structure_row(axes, per_source: dict) -> None:
    """RDF, local angle distribution and q distribution of each source on three axes."""
    for src, o in per_source.items():
        kw = source_style(src)
        axes[0].plot(o["rdf_r"], o["rdf_g"], **kw)
        axes[1].plot(o["angle_centres"], o["angle_density"], **kw)
        axes[2].plot(o["q_centres"], o["q_density"], **kw)
    axes[0].set(xlabel="r (Å)", ylabel="g(r)")
    axes[1].set(xlabel="local angle (deg)", ylabel="density")
    axes[2].set(xlabel="tetrahedral order q", ylabel="density")


def plot_structure(obs, out: Path) -> None:
    systems = list(obs)
    fig, axes = plt.subplots(len(systems), 3, figsize=(12, 3.2 * len(systems)), squeeze=False)
    for row, s in zip(axes, systems):
        structure_row(row, obs[s])
        row[0].set_title(s, loc="left", fontweight="bold")
    axes[0, 0].legend(frameon=False)
    fig.tight_layout()
    save(fig, out)


def _hist_for(o: dict, cutoff: float) -> np.ndarray:
    k = int(np.argmin(np.abs(o["triplet_cutoffs"] - cutoff)))
    if abs(o["triplet_cutoffs"][k] - cutoff) > 1e-6:
        raise ValueError(f"no triplet histogram at cutoff {cutoff} Å (have {o['triplet_cutoffs'].tolist()})")
    return o["triplet_hist"][k]


def plot_triplets(obs, out: Path) -> None:
    """AA vs CG (θ, L) distributions, one row per system × model, at that model's cutoff."""
    rows = [(s, src) for s in obs for src in obs[s] if src != "aa" and "aa" in obs[s]]
    if not rows:
        raise ValueError("the triplets figure needs an 'aa' source and at least one model per system")
    fig, axes = plt.subplots(len(rows), 2, figsize=(8, 3.0 * len(rows)), squeeze=False)
    for (s, src), ax in zip(rows, axes):
        o = obs[s][src]
        cut = float(o["triplet_cutoffs"][0])
        ext = [o["triplet_L_edges"][0], o["triplet_L_edges"][-1], o["triplet_theta_edges"][0], o["triplet_theta_edges"][-1]]
        for a, h, title in ((ax[0], _hist_for(obs[s]["aa"], cut), "AA"), (ax[1], _hist_for(o, cut), style.label(src))):
            a.imshow(h, origin="lower", aspect="auto", extent=ext, cmap=style.DENSITY_CMAP)
            a.set(title=f"{s}, {title} (cutoff {cut:g} Å)", xlabel="opposite edge L (Å)", ylabel="largest angle θ (deg)")
    fig.tight_layout()
    save(fig, out)


def structure_deviation(o: dict, ref: dict) -> tuple[float, float]:
    """(RMS of g(r) − g_ref(r) over the reference's RDF range, L1 distance ∫|p − p_ref| dθ of the local
    angle distributions) of observables ``o`` against ``ref``; ``o`` is interpolated onto the
    reference's grids where they differ."""
    g = np.interp(ref["rdf_r"], o["rdf_r"], o["rdf_g"])
    rms = float(np.sqrt(np.mean((g - ref["rdf_g"]) ** 2)))
    a = np.asarray(ref["angle_centres"], float)
    p = np.interp(a, o["angle_centres"], o["angle_density"])
    width = np.gradient(a) if len(a) > 1 else np.ones_like(a)
    return rms, float(np.sum(np.abs(p - ref["angle_density"]) * width))


def plot_cutoff(obs, out: Path) -> None:
    """Supplementary S2: RDF and local angle distribution of one architecture trained at several
    cutoffs against the AA reference (black), and the deviation from it per cutoff.

    One system; sources ``aa`` and ``<arch>_c<cutoff>`` (:func:`cgexplain.core.config.cutoff_model_name`),
    drawn in increasing cutoff on a sequential palette. The deviations are also printed (stderr)."""
    import sys

    if len(obs) != 1:
        raise ValueError(f"the cutoff figure draws one system, got {list(obs)}")
    (system, per_source), = obs.items()
    if "aa" not in per_source:
        raise ValueError(f"the cutoff figure needs an 'aa' source for {system}")
    runs = []
    for src in per_source:
        if src == "aa":
            continue
        parsed = parse_cutoff_model(src)
        if parsed is None:
            raise ValueError(f"source {src!r} is not <arch>_c<cutoff> (e.g. painn_c4, painn_c4p5)")
        runs.append((parsed[1], parsed[0], src))
    if not runs:
        raise ValueError("the cutoff figure needs at least one <arch>_c<cutoff> source")
    runs.sort()
    ref = per_source["aa"]
    colours = style.cutoff_colours(len(runs))
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.4), gridspec_kw=dict(width_ratios=[1.25, 1.25, 0.85]))
    for ax, (x, y) in zip(axes[:2], (("rdf_r", "rdf_g"), ("angle_centres", "angle_density"))):
        ax.plot(ref[x], ref[y], **source_style("aa"))
        for (cut, arch, src), c in zip(runs, colours):
            ax.plot(per_source[src][x], per_source[src][y], color=c, lw=1.4, label=style.label(src))
    axes[0].axhline(1.0, color=style.GUIDE_COLOUR, lw=0.8, zorder=0)
    axes[0].set(xlabel="r (Å)", ylabel="g(r)", title=f"{system}: RDF")
    axes[1].set(xlabel="local angle (deg)", ylabel="density", title="first-shell angles")
    axes[0].legend(frameon=False)
    dev = [structure_deviation(per_source[src], ref) for _, _, src in runs]
    cuts = [cut for cut, _, _ in runs]
    ax = axes[2]
    ax.plot(cuts, [d[0] for d in dev], color="0.4", lw=1.0, zorder=1)
    ax.scatter(cuts, [d[0] for d in dev], c=colours, s=40, zorder=2, label="RDF: RMS of g − g$_{AA}$")
    ax.set(xlabel="cutoff (Å)", ylabel="RMS of g(r) − g$_{AA}$(r)", title="deviation from AA")
    ax.set_xticks(cuts)
    ax.set_xlim(min(cuts) - 0.5, max(cuts) + 0.5)
    ax.set_ylim(0, 1.15 * max(max(d[0] for d in dev), 1e-6))
    ax2 = ax.twinx()
    ax2.plot(cuts, [d[1] for d in dev], color="0.4", lw=1.0, ls="--", zorder=1)
    ax2.scatter(cuts, [d[1] for d in dev], facecolors="none", edgecolors=colours, marker="s", s=40, zorder=2,
                label="angles: L1 of p − p$_{AA}$")
    ax2.set(ylabel="L1 of p(angle) − p$_{AA}$")
    ax2.set_ylim(0, 1.15 * max(max(d[1] for d in dev), 1e-6))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, frameon=False, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22),
              ncol=1)
    fig.tight_layout()
    save(fig, out)
    for (cut, arch, src), (rms, l1) in zip(runs, dev):
        print(f"{system} {style.label(src)} ({src}): RDF RMS vs AA {rms:.4f}, angle L1 vs AA {l1:.4f}",
              file=sys.stderr)


FIGURES = {"rdf": plot_rdf, "structure": plot_structure, "triplets": plot_triplets, "cutoff": plot_cutoff}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain plot", description="Draw one structure figure.")
    ap.add_argument("figure", choices=sorted(FIGURES))
    ap.add_argument("--obs", nargs="+", required=True, help="SYSTEM:SOURCE:observables.npz")
    ap.add_argument("--out", required=True, type=Path, help="figure path; .pdf and .png are written")
    a = ap.parse_args(argv)
    FIGURES[a.figure](parse_obs(a.obs), a.out)
    return 0
