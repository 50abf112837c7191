"""``cgexplain plot-relevance <figure>``: one relevance figure per call (PDF + PNG next to each other).

Figures (relevance files are those of ``cgexplain relevance``; values are relevance / norm, norm =
|Σ R| / n_walks of each frame):

* ``fig2``: RDF (``results/{system}/analysis/{rdf_source}.npz``: ``rdf_r`` Å, ``rdf_g``) with the mean ±
  std of the 2-body relevance in ``--bins`` distance bins overlaid; rows = systems, columns = models.
* ``fig3``: mean 3-body relevance in ``--angle-bins`` × ``--edge-bins`` bins of the largest angle θ and
  the opposite edge L; rows = systems, columns = models. Bins holding fewer than ``--min-triplets``
  triplets are masked: grey where some fell, blank where none did (also in ``s9``).
* ``walks2``: distribution (2D histogram, log counts) of the individual 2-body walk relevances vs
  distance, one figure per system, columns = models (Figs. S5/S6).
* ``s9``: mean 3-body relevance vs θ and each adjacent edge (θ–a, θ–b, a–b), one figure per system,
  rows = models.
* ``s10``: occurrences of each (θ, L) bin in the training data: triplets connected within the model
  cutoff in dataset frames; one figure per system, columns = models.

Relevance and observable files are located as ``{results}/{system}/relevance/{model}/{source}.npz``,
``{results}/{system}/analysis/{rdf_source}.npz``, ``{results}/{system}/cg/dataset.npz`` and
``{results}/{system}/models/{model}/model.pt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..core.binning import binned_mean, binned_mean_2d
from . import style
from .style import SPARSE_GREY, label
from .style import pyplot as _plt
from .style import save as _save


def _rel(results, system, model, source):
    p = Path(results) / system / "relevance" / model / f"{source}.npz"
    if not p.exists():
        raise FileNotFoundError(f"relevance file {p} does not exist")
    return np.load(p)


def _grid(plt, nr, nc, w=3.2, h=2.6):
    fig, axes = plt.subplots(nr, nc, figsize=(w * nc, h * nr), squeeze=False)
    return fig, axes


def fig2(a):
    plt = _plt()
    fig, axes = _grid(plt, len(a.systems), len(a.models))
    for r, system in enumerate(a.systems):
        rdf = np.load(Path(a.results) / system / "analysis" / f"{a.rdf_source}.npz")
        for c, model in enumerate(a.models):
            ax = axes[r, c]
            ax.plot(rdf["rdf_r"], rdf["rdf_g"], color=style.STRUCTURE_COLOUR, lw=1.2, label="RDF")
            ax.set_xlabel("r (Å)")
            ax.set_ylabel("g(r)")
            d = _rel(a.results, system, model, a.source)
            dist, val = d["pair_dist"], d["pair_rnorm"]
            edges = np.linspace(0, float(d["cutoff"]), a.bins + 1)
            mean, std, _ = binned_mean(dist, val, edges)
            cen = 0.5 * (edges[1:] + edges[:-1])
            ax2 = ax.twinx()
            ax2.plot(cen, mean, color=style.RELEVANCE_COLOUR, lw=1.2, label="2-body relevance")
            ax2.fill_between(cen, mean - std, mean + std, color=style.RELEVANCE_COLOUR, alpha=0.25, lw=0)
            ax2.axhline(0, color=style.RELEVANCE_COLOUR, lw=0.5, ls=":")
            ax2.set_ylabel("2-body relevance (a.u.)", color=style.RELEVANCE_COLOUR)
            ax.set_title(f"{system} – {label(model)}")
    fig.tight_layout()
    _save(fig, a.out)


def fig3(a):
    plt = _plt()
    fig, axes = _grid(plt, len(a.systems), len(a.models), w=3.6, h=3.0)
    for r, system in enumerate(a.systems):
        for c, model in enumerate(a.models):
            ax = axes[r, c]
            d = _rel(a.results, system, model, a.source)
            te = np.linspace(60, 180, a.angle_bins + 1)
            le = np.linspace(0, 2 * float(d["cutoff"]), a.edge_bins + 1)
            mean, n = binned_mean_2d(d["trip_theta"], d["trip_L"], d["trip_rnorm"], te, le)
            _diverging_mesh(fig, ax, te, le, mean, "3-body relevance (a.u.)", counts=n, min_count=a.min_triplets)
            _report_mask(f"fig3 {system} {model} {a.source}", n, a.min_triplets)
            ax.set_xlabel("largest angle θ (°)")
            ax.set_ylabel("opposite edge L (Å)")
            ax.set_title(f"{system} – {label(model)}")
    fig.tight_layout()
    _save(fig, a.out)


def masked_means(m, counts, min_count: int):
    """Binned means ``m`` with every bin of fewer than ``min_count`` entries (``counts``) set to NaN."""
    return np.where(np.asarray(counts) >= max(int(min_count), 1), m, np.nan)


def _diverging_mesh(fig, ax, xe, ye, m, label=None, counts=None, min_count: int = 1):
    """Binned means ``m`` (nx, ny) on a colour scale symmetric about zero (blue stabilising, red not).

    With ``counts``, bins holding fewer than ``min_count`` entries are masked (their means are not
    drawn and do not set the colour scale): grey where some entries fell, blank where none did."""
    if counts is not None:
        from matplotlib.colors import ListedColormap

        m = masked_means(m, counts, min_count)
        sparse = (np.asarray(counts) > 0) & np.isnan(m)
        if sparse.any():
            ax.pcolormesh(xe, ye, np.where(sparse, 1.0, np.nan).T, cmap=ListedColormap([SPARSE_GREY]),
                          vmin=0.0, vmax=1.0, shading="flat")
    lim = np.nanmax(np.abs(m)) if np.isfinite(m).any() else 1.0
    im = ax.pcolormesh(xe, ye, m.T, cmap=style.DIVERGING_CMAP, vmin=-lim, vmax=lim, shading="flat")
    fig.colorbar(im, ax=ax, label=label)


def _report_mask(what: str, counts, min_count: int) -> None:
    """One log line: bins drawn and bins masked for holding fewer than ``min_count`` triplets."""
    counts = np.asarray(counts)
    if min_count <= 1:
        print(f"{what}: {int((counts > 0).sum())} bins drawn, none masked", file=sys.stderr)
        return
    drawn = int((counts >= int(min_count)).sum())
    sparse = int(((counts > 0) & (counts < min_count)).sum())
    share = counts[(counts > 0) & (counts < min_count)].sum() / max(counts.sum(), 1.0)
    print(f"{what}: {drawn} bins drawn, {sparse} masked (1..{int(min_count) - 1} triplets, "
          f"{share:.1%} of the triplets)", file=sys.stderr)


def walks2(a):
    plt = _plt()
    from matplotlib.colors import LogNorm

    fig, axes = _grid(plt, 1, len(a.models), w=3.6, h=3.0)
    for c, model in enumerate(a.models):
        ax = axes[0, c]
        d = _rel(a.results, a.system, model, a.source)
        x, y = d["walk2_dist"], d["walk2_rnorm"]
        if len(x):
            lo, hi = np.percentile(y, [0.1, 99.9]) if len(y) > 10 else (y.min(), y.max() + 1e-12)
            h = ax.hist2d(x, y, bins=[a.bins, a.bins], range=[[0, float(d["cutoff"])], [lo, hi]],
                          norm=LogNorm(), cmap=style.DENSITY_CMAP)
            fig.colorbar(h[3], ax=ax, label="walks")
        ax.axhline(0, color="w", lw=0.5)
        ax.set_xlabel("distance (Å)")
        ax.set_ylabel("2-body walk relevance (a.u.)")
        ax.set_title(f"{a.system} – {label(model)}")
    fig.tight_layout()
    _save(fig, a.out)


def s9(a):
    plt = _plt()
    fig, axes = _grid(plt, len(a.models), 3, w=3.4, h=2.9)
    for r, model in enumerate(a.models):
        d = _rel(a.results, a.system, model, a.source)
        cut = float(d["cutoff"])
        te = np.linspace(60, 180, a.angle_bins + 1)
        ee = np.linspace(0, cut, a.edge_bins + 1)
        combos = [("trip_theta", "trip_a", te, ee, "θ (°)", "shorter adjacent edge a (Å)"),
                  ("trip_theta", "trip_b", te, ee, "θ (°)", "longer adjacent edge b (Å)"),
                  ("trip_a", "trip_b", ee, ee, "a (Å)", "b (Å)")]
        for c, (kx, ky, xe, ye, lx, ly) in enumerate(combos):
            ax = axes[r, c]
            mean, n = binned_mean_2d(d[kx], d[ky], d["trip_rnorm"], xe, ye)
            _diverging_mesh(fig, ax, xe, ye, mean, counts=n, min_count=a.min_triplets)
            _report_mask(f"s9 {a.system} {model} {kx}-{ky}", n, a.min_triplets)
            ax.set_xlabel(lx)
            ax.set_ylabel(ly)
            ax.set_title(f"{a.system} – {label(model)}")
    fig.tight_layout()
    _save(fig, a.out)


def triplet_occurrences(dataset: str, cutoff: float, n_frames: int, angle_bins: int, edge_bins: int,
                        seed: int = 0):
    """2D histogram of (θ, L) of all triplets connected within ``cutoff`` in sampled dataset frames."""
    from ..core import geometry
    from ..data.dataset import load_dataset
    from ..data.sampling import evenly_spaced

    data = load_dataset(dataset)
    coords, box = data["coords"], data["box"]
    frames = np.asarray(data["train_idx"])
    frames = frames[evenly_spaced(len(frames), n_frames, seed)]
    te = np.linspace(60, 180, angle_bins + 1)
    le = np.linspace(0, 2 * cutoff, edge_bins + 1)
    H = np.zeros((angle_bins, edge_bins))
    for f in frames:
        pos = coords[f].astype(np.float64)
        tri = geometry.connected_triplets(pos, box[f], cutoff)
        g = geometry.triangle_geometry(pos, box[f], tri)
        H += np.histogram2d(g["theta"], g["L"], bins=[te, le])[0]
    return H, te, le


def s10(a):
    import torch

    plt = _plt()
    from matplotlib.colors import LogNorm

    fig, axes = _grid(plt, 1, len(a.models), w=3.6, h=3.0)
    dataset = Path(a.results) / a.system / "cg" / "dataset.npz"
    for c, model in enumerate(a.models):
        mp = Path(a.results) / a.system / "models" / model / "model.pt"
        cutoff = float(torch.load(mp, map_location="cpu", weights_only=False)["model"]["cutoff"])
        H, te, le = triplet_occurrences(str(dataset), cutoff, a.n_frames, a.angle_bins, a.edge_bins,
                                        a.seed)
        ax = axes[0, c]
        im = ax.pcolormesh(te, le, np.where(H > 0, H, np.nan).T, norm=LogNorm(), cmap=style.DENSITY_CMAP)
        fig.colorbar(im, ax=ax, label="triplets")
        ax.set_xlabel("largest angle θ (°)")
        ax.set_ylabel("opposite edge L (Å)")
        ax.set_title(f"{a.system} training data – cutoff {cutoff:g} Å ({label(model)})")
    fig.tight_layout()
    _save(fig, a.out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain plot-relevance", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="figure", required=True)

    def common(p, many_systems=True):
        p.add_argument("--results", default="results")
        if many_systems:
            p.add_argument("--systems", nargs="+", required=True)
        else:
            p.add_argument("--system", required=True)
        p.add_argument("--models", nargs="+", default=["painn", "so3net"])
        p.add_argument("--source", default="aa", help="relevance source: aa | cg")
        p.add_argument("--out", required=True, help="output path (.pdf; a .png is written too)")

    p = sub.add_parser("fig2", help="RDF with mean 2-body relevance vs distance")
    common(p)
    p.add_argument("--rdf-source", default="aa")
    p.add_argument("--bins", type=int, default=75)
    min_help = "mask bins holding fewer triplets than this (1: draw every bin with a triplet)"
    p = sub.add_parser("fig3", help="mean 3-body relevance vs (θ, L)")
    common(p)
    p.add_argument("--angle-bins", type=int, default=50)
    p.add_argument("--edge-bins", type=int, default=50)
    p.add_argument("--min-triplets", type=int, default=1, help=min_help)
    p = sub.add_parser("walks2", help="2-body walk relevance distribution vs distance (S5/S6)")
    common(p, many_systems=False)
    p.add_argument("--bins", type=int, default=75)
    p = sub.add_parser("s9", help="3-body relevance vs θ and adjacent edges")
    common(p, many_systems=False)
    p.add_argument("--angle-bins", type=int, default=50)
    p.add_argument("--edge-bins", type=int, default=50)
    p.add_argument("--min-triplets", type=int, default=1, help=min_help)
    p = sub.add_parser("s10", help="(θ, L) occurrences in the training data")
    common(p, many_systems=False)
    p.add_argument("--n-frames", type=int, default=200)
    p.add_argument("--angle-bins", type=int, default=50)
    p.add_argument("--edge-bins", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        {"fig2": fig2, "fig3": fig3, "walks2": walks2, "s9": s9, "s10": s10}[a.figure](a)
    except (FileNotFoundError, KeyError) as exc:
        print(f"cgexplain plot-relevance: error: {exc}", file=sys.stderr)
        return 2
    return 0
