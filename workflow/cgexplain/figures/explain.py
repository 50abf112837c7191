"""The plots of ``cgexplain explain --plots``: Figure 2- and Figure 3-style views of one explained run.

Relevances are drawn in the model's energy unit (``scale="energy"``, the default: kcal/mol for the
workflow's models, ``energy_unit`` of the relevance file otherwise), so that two runs, two models or a
paper's figure can be compared on one scale. ``scale="normalised"`` draws relevance / norm instead, the
form of the paper's figures, with norm = |ΣR| / n_walks of each frame (``*_rnorm`` of the file); the axis
says so. The structure behind the 2-body curve is g(r) when every frame has a box, else the pair density.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.binning import binned_mean, binned_mean_2d
from . import style
from .relevance import _diverging_mesh

#: ``--plot-scale`` choices: relevance in the model's energy unit, or relevance / norm.
SCALES = ("energy", "normalised")
#: The definition the normalised axes carry.
NORM_DEFINITION = "norm = |ΣR| / n_walks per frame"


def relevance_axis(order: int, scale: str, unit: str) -> tuple[str, str]:
    """(column suffix of the relevance file, axis label) of the ``order``-body relevance on ``scale``."""
    if scale == "energy":
        return "_r", f"mean {order}-body relevance ({unit})"
    if scale == "normalised":
        return "_rnorm", f"mean {order}-body relevance / norm\n({NORM_DEFINITION})"
    raise ValueError(f"plot scale {scale!r}: expected one of {', '.join(SCALES)}")


def pair_structure(res: dict, edges: np.ndarray) -> tuple[np.ndarray, str]:
    """The structure behind the 2-body curve: g(r) when every frame has a box (from the pairs within the
    cutoff, each frame normalised by its own volume), else the pair density per frame (pairs / 4πr²dr)."""
    dist = np.asarray(res["pair_dist"])
    frames = np.asarray(res["pair_frame"], dtype=np.int64)
    n_frames = max(len(res["frame_index"]), 1)
    boxes = np.asarray(res["box"], dtype=np.float64).reshape(-1, 3)
    cen = 0.5 * (edges[1:] + edges[:-1])
    shell = 4.0 * np.pi * cen ** 2 * np.diff(edges)
    if len(boxes) and (boxes > 0).all():
        n = len(np.asarray(res["z"]).reshape(-1))
        weight = np.prod(boxes, axis=1)[frames] / (0.5 * n * (n - 1)) / n_frames
        counts, _ = np.histogram(dist, bins=edges, weights=weight)
        return counts / shell, "g(r)"
    counts, _ = np.histogram(dist, bins=edges)
    return counts / shell / n_frames, "pair density (pairs per frame / 4πr²dr, Å⁻³)"


def plot_explained(res: dict, out: str | Path, bins: int = 50, min_count: int = 5,
                   scale: str = "energy") -> list[Path]:
    """Figure 2- and Figure 3-style plots of one explained run (PDF + PNG beside ``out``) on ``scale``
    (:data:`SCALES`)."""
    unit = str(res["energy_unit"]) if "energy_unit" in res else "kcal/mol"
    col2, label2 = relevance_axis(2, scale, unit)
    col3, label3 = relevance_axis(3, scale, unit)
    plt = style.pyplot()
    out = Path(out)
    cutoff = float(res["cutoff"])
    title = f"{res['arch']!s}, {len(res['frame_index'])} frame(s)"
    fig, ax = plt.subplots(figsize=(4.4, 3.2))
    dist = np.asarray(res["pair_dist"])
    edges = np.linspace(0.0, cutoff, bins + 1)
    cen = 0.5 * (edges[1:] + edges[:-1])
    structure, structure_label = pair_structure(res, edges)
    ax.plot(cen, structure, color=style.STRUCTURE_COLOUR, lw=1.2)
    if structure_label == "g(r)":
        ax.axhline(1.0, color=style.GUIDE_COLOUR, lw=0.6, ls="--")
    ax.set(xlabel="r (Å)", ylabel=structure_label, title=title)
    mean, std, _ = binned_mean(dist, res[f"pair{col2}"], edges)
    ax2 = ax.twinx()
    ax2.plot(cen, mean, color=style.RELEVANCE_COLOUR, lw=1.2)
    ax2.fill_between(cen, mean - std, mean + std, color=style.RELEVANCE_COLOUR, alpha=0.25, lw=0)
    ax2.axhline(0, color=style.RELEVANCE_COLOUR, lw=0.5, ls=":")
    ax2.set_ylabel(label2, color=style.RELEVANCE_COLOUR)
    fig.tight_layout()
    p2 = out.with_name(f"{out.stem}_fig2")
    style.save(fig, p2)

    fig, ax = plt.subplots(figsize=(4.4, 3.4))
    te = np.linspace(60.0, 180.0, bins + 1)
    le = np.linspace(0.0, 2.0 * cutoff, bins + 1)
    m, counts = binned_mean_2d(res["trip_theta"], res["trip_L"], res[f"trip{col3}"], te, le)
    m = np.where(counts >= max(int(min_count), 1), m, np.nan)
    _diverging_mesh(fig, ax, te, le, m, label3)
    ax.set(xlabel="largest angle θ (°)", ylabel="opposite edge L (Å)",
           title=f"{title}; blank: < {min_count} triplets")
    fig.tight_layout()
    p3 = out.with_name(f"{out.stem}_fig3")
    style.save(fig, p3)
    return [p.with_suffix(ext) for p in (p2, p3) for ext in (".pdf", ".png")]
