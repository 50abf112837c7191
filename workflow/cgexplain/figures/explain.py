"""The plots of ``cgexplain explain --plots``: Figure 2- and Figure 3-style views of one explained run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.binning import binned_mean, binned_mean_2d
from . import style
from .relevance import _diverging_mesh


def plot_explained(res: dict, out: str | Path, bins: int = 50, min_count: int = 5) -> list[Path]:
    """Figure 2- and Figure 3-style plots of one explained run (PDF + PNG beside ``out``)."""
    plt = style.pyplot()
    out = Path(out)
    cutoff = float(res["cutoff"])
    title = f"{str(res['arch'])}, {len(res['frame_index'])} frame(s)"
    fig, ax = plt.subplots(figsize=(4.4, 3.2))
    dist = np.asarray(res["pair_dist"])
    edges = np.linspace(0.0, cutoff, bins + 1)
    cen = 0.5 * (edges[1:] + edges[:-1])
    density, _ = np.histogram(dist, bins=edges)
    shell = 4.0 * np.pi * cen ** 2 * np.diff(edges)
    ax.plot(cen, density / np.maximum(shell, 1e-12) / max(len(res["frame_index"]), 1), color=style.STRUCTURE_COLOUR, lw=1.2)
    ax.set(xlabel="r (Å)", ylabel="pairs per frame / 4πr²dr", title=title)
    mean, std, n = binned_mean(dist, res["pair_rnorm"], edges)
    ax2 = ax.twinx()
    ax2.plot(cen, mean, color=style.RELEVANCE_COLOUR, lw=1.2)
    ax2.fill_between(cen, mean - std, mean + std, color=style.RELEVANCE_COLOUR, alpha=0.25, lw=0)
    ax2.axhline(0, color=style.RELEVANCE_COLOUR, lw=0.5, ls=":")
    ax2.set_ylabel("2-body relevance (a.u.)", color=style.RELEVANCE_COLOUR)
    fig.tight_layout()
    p2 = out.with_name(f"{out.stem}_fig2")
    style.save(fig, p2)

    fig, ax = plt.subplots(figsize=(4.4, 3.4))
    te = np.linspace(60.0, 180.0, bins + 1)
    le = np.linspace(0.0, 2.0 * cutoff, bins + 1)
    m, counts = binned_mean_2d(res["trip_theta"], res["trip_L"], res["trip_rnorm"], te, le)
    m = np.where(counts >= max(int(min_count), 1), m, np.nan)
    _diverging_mesh(fig, ax, te, le, m, "3-body relevance (a.u.)")
    ax.set(xlabel="largest angle θ (°)", ylabel="opposite edge L (Å)",
           title=f"{title}; blank: < {min_count} triplets")
    fig.tight_layout()
    p3 = out.with_name(f"{out.stem}_fig3")
    style.save(fig, p3)
    return [p.with_suffix(ext) for p in (p2, p3) for ext in (".pdf", ".png")]
