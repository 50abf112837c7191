"""``cgexplain plot-truth``: GNN-LRP relevance against the true energies of a ground-truth system.

Reads the npz of ``cgexplain truth`` (:mod:`cgexplain.analysis.truth`) and draws

* protein (Gō): mean relevance per pair against the mean true net pair energy (U_true,nonbonded − U_prior,pair),
  the planted destabilising pairs highlighted and labelled; the same per non-local triplet, the cooperativity
  triangles highlighted; one panel per mutant, ``R_mut − R_WT`` against the true ``ΔE`` per pair, the pairs of the
  mutated bead highlighted;
* fluid (mW): mean relevance and mean true pair energy per distance bin (curves), mean relevance against mean
  true 3-body energy per (θ, L) bin of Figure 3 (scatter), and both 3-body means against θ (curves, averaged
  over L weighted by the rows of each bin).

Each panel's title carries Pearson r, Spearman ρ and the sign agreement. Relevance is drawn in
``style.RELEVANCE_COLOUR``, the truth (an exact many-body decomposition) in ``style.MANYBODY_COLOUR``, the
highlighted rows in ``style.STRUCTURE_COLOUR``, the zero lines and the diagonal (relevance = energy) in
``style.GUIDE_COLOUR``. Scatters spanning more than :data:`SYMLOG_ABOVE` kcal/mol (a few strongly repulsive
pairs) are drawn on symlog axes, linear within ±1 kcal/mol.

Usage::

    cgexplain plot-truth --truth truth.npz --out figures/truth_ntl9_go_painn.pdf [--title "Gō NTL9 – PaiNN"]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import style


def _stats_title(name: str, s) -> str:
    s = np.asarray(s, np.float64)
    return f"{name}\nr = {s[1]:.2f}, ρ = {s[2]:.2f}, sign {s[3]:.2f} (n = {int(s[0])})"


def _guides(ax, x, y):
    ax.axhline(0, color=style.GUIDE_COLOUR, lw=0.6, zorder=0)
    ax.axvline(0, color=style.GUIDE_COLOUR, lw=0.6, zorder=0)
    v = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
    v = v[np.isfinite(v)]
    if len(v):
        lo, hi = float(v.min()), float(v.max())
        ax.plot([lo, hi], [lo, hi], color=style.GUIDE_COLOUR, lw=0.8, ls="--", zorder=0, label="relevance = energy")


#: a scatter whose values span more than this (kcal/mol) is drawn on symlog axes, linear within ±1 kcal/mol
SYMLOG_ABOVE = 20.0


def _scatter(ax, E, R, hi, hi_label, labels=None):
    E, R, hi = np.asarray(E), np.asarray(R), np.asarray(hi, bool)
    _guides(ax, E, R)
    v = np.abs(np.concatenate([E, R]))
    if len(v) and np.nanmax(v) > SYMLOG_ABOVE:  # a few repulsive pairs must not hide the rest
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_yscale("symlog", linthresh=1.0)
    ax.scatter(E[~hi], R[~hi], s=8, color=style.RELEVANCE_COLOUR, alpha=0.7, lw=0, label="other")
    if hi.any():
        ax.scatter(E[hi], R[hi], s=22, color=style.STRUCTURE_COLOUR, marker="D", lw=0, label=hi_label)
        if labels is not None:
            for e, r, t in zip(E[hi], R[hi], np.asarray(labels)[hi]):
                ax.annotate(str(t), (e, r), fontsize=style.FONT_SIZE - 3, xytext=(3, 3), textcoords="offset points")
    ax.legend(frameon=False, loc="best")


def protein_figure(res: dict, title: str | None = None):
    plt = style.pyplot()
    muts = [str(m) for m in res["mutations"]]
    n = 2 + len(muts)
    fig, axes = plt.subplots(1, n, figsize=(min(style.DOUBLE_COLUMN_IN * n / 2, 3.3 * n), 3.2), squeeze=False)
    axes = axes[0]
    names = res["bead_names"]
    lab = lambda t: "–".join(f"{names[a]}{a + 1}" for a in t)
    pair_labels = np.array([lab(t) for t in res["pairs"]]) if len(res["pairs"]) else np.zeros(0, str)
    _scatter(axes[0], res["pair_E"], res["pair_R"], res["pair_planted"], "planted (ε_ij < 0)", pair_labels)
    axes[0].set_xlabel("true pair energy U_net (kcal/mol)")
    axes[0].set_ylabel("mean 2-body relevance (kcal/mol)")
    axes[0].set_title(_stats_title("pairs", res["stats_pair"]))
    _scatter(axes[1], res["trip_E"], res["trip_R"], res["trip_triangle"], "cooperativity triangles")
    axes[1].set_xlabel("true 3-body energy (kcal/mol)")
    axes[1].set_ylabel("mean 3-body relevance (kcal/mol)")
    axes[1].set_title(_stats_title("non-local triplets", res["stats_triplet"]))
    for k, m in enumerate(muts):
        ax = axes[2 + k]
        _scatter(ax, res[f"mut_{m}_dE"], res[f"mut_{m}_dR"], res[f"mut_{m}_of_bead"], "pairs of the mutated bead")
        ax.set_xlabel("true ΔE per pair (kcal/mol)")
        ax.set_ylabel("R_mut − R_WT (kcal/mol)")
        ax.set_title(_stats_title(m, res["stats_mutant"][k]))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def fluid_figure(res: dict, title: str | None = None):
    plt = style.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(style.DOUBLE_COLUMN_IN * 1.3, 3.0))
    re_ = res["r_edges"]
    cen = 0.5 * (re_[1:] + re_[:-1])
    ax = axes[0]
    ax.plot(cen, res["bin2_R"], color=style.RELEVANCE_COLOUR, lw=1.4, label="mean 2-body relevance")
    ax.plot(cen, res["bin2_E"], color=style.MANYBODY_COLOUR, lw=1.2, ls="--", label="mean true pair energy")
    ax.axhline(0, color=style.GUIDE_COLOUR, lw=0.6, zorder=0)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("kcal/mol per pair")
    ax.legend(frameon=False)
    ax.set_title(_stats_title("2-body, per distance bin", res["stats_bin2"]))
    ok = res["bin3_count"] >= max(int(res["min_count"]), 1)
    ax = axes[1]
    E3, R3 = res["bin3_E"][ok], res["bin3_R"][ok]
    _guides(ax, E3, R3)
    ax.scatter(E3, R3, s=8, color=style.RELEVANCE_COLOUR, alpha=0.7, lw=0)
    ax.set_xlabel("mean true 3-body energy (kcal/mol)")
    ax.set_ylabel("mean 3-body relevance (kcal/mol)")
    ax.set_title(_stats_title("3-body, per (θ, L) bin", res["stats_bin3"]))
    ax = axes[2]
    te = res["theta_edges"]
    w = np.where(ok, res["bin3_count"], 0.0)
    tot = w.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mR = np.where(tot > 0, np.nansum(np.where(ok, res["bin3_R"], 0.0) * w, 1) / tot, np.nan)
        mE = np.where(tot > 0, np.nansum(np.where(ok, res["bin3_E"], 0.0) * w, 1) / tot, np.nan)
    tc = 0.5 * (te[1:] + te[:-1])
    ax.plot(tc, mR, color=style.RELEVANCE_COLOUR, lw=1.4, label="3-body relevance")
    ax.plot(tc, mE, color=style.MANYBODY_COLOUR, lw=1.2, ls="--", label="true 3-body energy")
    ax.axhline(0, color=style.GUIDE_COLOUR, lw=0.6, zorder=0)
    ax.set_xlabel("largest angle θ (°)")
    ax.set_ylabel("kcal/mol per triplet")
    ax.legend(frameon=False)
    ax.set_title("3-body vs θ (mean over L)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_truth(truth: str | Path, out: str | Path, title: str | None = None) -> list[Path]:
    """Draw the figure of one ``cgexplain truth`` file; PDF and PNG at ``out``."""
    from ..data.dataset import read_npz

    res = read_npz(truth, "truth file")
    fig = protein_figure(res, title) if str(res["kind"]) == "protein" else fluid_figure(res, title)
    return style.save(fig, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain plot-truth", description=__doc__.splitlines()[0])
    ap.add_argument("--truth", required=True, type=Path, help="npz of cgexplain truth")
    ap.add_argument("--out", required=True, type=Path, help="output path (.pdf; a .png is written too)")
    ap.add_argument("--title", default=None)
    a = ap.parse_args(argv)
    paths = plot_truth(a.truth, a.out, a.title)
    print(f"plot-truth: wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0
