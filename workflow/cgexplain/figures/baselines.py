"""Supplementary baseline figures (PDF + PNG, Matplotlib Agg).

* **S1** — AA vs IMC vs NNPs (PaiNN, SO3net): RDF, local angle distribution, tetrahedral order q,
  one row per liquid.
* **S3** — AA vs SchNet vs PaiNN/SO3net on the same observables.
* **S4** — many-body decomposition of a network (isolated 2- and 3-body energies) next to its
  GNN-LRP 2- and 3-body relevances when a relevance file is given (optional overlay), and, for a
  ground-truth system (mW), the exact decomposition of the true energy (``--truth``, dashed).

Usage::

    cgexplain plot-baselines --figure S1 --out S1.pdf --input methane aa obs_aa.npz \
        --input methane imc obs_imc.npz ...            # observables files (cgexplain observables)
    cgexplain plot-baselines --figure S4 --out S4.pdf --manybody methane painn mb.npz \
        [--relevance methane painn relevance.npz] [--truth mw_water truth.npz] ...

A PNG with the same stem is written next to the PDF.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..core.binning import binned_mean
from . import style
from .style import save as _save


def _ordered(items: list[tuple[str, str, str]]) -> dict[str, dict[str, Path]]:
    """{system: {source: path}} in the order the arguments came."""
    out: dict[str, dict[str, Path]] = {}
    for system, source, path in items:
        out.setdefault(system, {})[source] = Path(path)
    return out


def plot_observables(inputs: list[tuple[str, str, str]], out: Path, title: str) -> list[Path]:
    plt = style.pyplot()
    by_sys = _ordered(inputs)
    fig, axes = plt.subplots(len(by_sys), 3, figsize=(11, 3.1 * len(by_sys)), squeeze=False)
    for row, (system, sources) in enumerate(by_sys.items()):
        ax_r, ax_a, ax_q = axes[row]
        for source, path in sources.items():
            kw = style.source_style(source)
            with np.load(path) as d:
                ax_r.plot(d["rdf_r"], d["rdf_g"], **kw)
                ax_a.plot(d["angle_centres"], d["angle_density"], **kw)
                ax_q.plot(d["q_centres"], d["q_density"], **kw)
        ax_r.set(xlabel="r (Å)", ylabel="g(r)", title=f"{system}: RDF")
        ax_a.set(xlabel="angle (deg)", ylabel="density (1/deg)", title=f"{system}: local angles (first shell)")
        ax_q.set(xlabel="q", ylabel="density", title=f"{system}: tetrahedral order")
        ax_r.axhline(1.0, color=style.GUIDE_COLOUR, lw=0.5)
        ax_r.legend(frameon=False, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)


def _row_curves(pair_r, pair_v, trip_theta, trip_L, trip_v, mb: dict) -> tuple:
    """Per-pair and per-triplet values binned on the edges of a row's decomposition: (2-body vs r,
    3-body vs θ, 3-body vs L)."""
    return (binned_mean(pair_r, pair_v, mb["r_edges"])[0], binned_mean(trip_theta, trip_v, mb["theta_edges"])[0],
            binned_mean(trip_L, trip_v, mb["L_edges"])[0])


def _truth_curves(path: Path, mb: dict) -> tuple:
    """The exact decomposition of a ground-truth system (``cgexplain manybody --truth``) on the row's edges."""
    with np.load(path) as t:
        return _row_curves(t["pair_r"], t["pair_e2"], t["trimer_theta"], t["trimer_L"], t["trimer_e3"], mb)


def plot_manybody(manybody: list[tuple[str, str, str]], relevance: list[tuple[str, str, str]] | None,
                  out: Path, truth: list[tuple[str, str]] | None = None) -> list[Path]:
    """Rows: (system, model); columns: 2-body vs r, 3-body vs θ, 3-body vs L.

    Decomposition energies (kcal/mol, left axis); GNN-LRP relevances / frame norm (right axis,
    binned on the same edges) when a relevance file is given for that row; the exact decomposition
    (``truth``: (system, npz) of a ground-truth system such as mW) as a dashed line in its rows.
    """
    plt = style.pyplot()
    rel = {(s, m): Path(p) for s, m, p in (relevance or [])}
    exact = {s: Path(p) for s, p in (truth or [])}
    rows = [(s, m, Path(p)) for s, m, p in manybody]
    fig, axes = plt.subplots(len(rows), 3, figsize=(12, 3.0 * len(rows)), squeeze=False)
    for row, (system, model, path) in enumerate(rows):
        label = style.label(model)
        with np.load(path) as d:
            mb = {k: d[k] for k in d.files}
        ax2, axt, axl = axes[row]
        ok = mb["e2_count"] > 0
        ax2.plot(mb["r_centres"][ok], mb["e2_mean"][ok], "o-", ms=2.5, color=style.MANYBODY_COLOUR,
                 label="2-body, isolated dimers")
        ax2.plot(mb["scan_r"], mb["scan_e2"], color=style.MANYBODY_COLOUR, lw=0.8, alpha=0.6, label="dimer scan")
        exact_curves = _truth_curves(exact[system], mb) if system in exact else None
        shown = mb["e2_mean"][ok] if exact_curves is None else np.r_[mb["e2_mean"][ok], exact_curves[0][ok]]
        lo, hi = np.nanpercentile(shown, [2, 98]) if ok.any() else (-1, 1)
        ax2.set_ylim(lo - 0.2 * (hi - lo + 1e-9), hi + 0.2 * (hi - lo + 1e-9))
        axt.plot(mb["theta_centres"], mb["e3_theta_mean"], "o-", ms=2.5, color=style.MANYBODY_COLOUR,
                 label="3-body, isolated trimers")
        axl.plot(mb["L_centres"], mb["e3_L_mean"], "o-", ms=2.5, color=style.MANYBODY_COLOUR,
                 label="3-body, isolated trimers")
        if exact_curves is not None:
            for ax, x, y in zip((ax2, axt, axl), (mb["r_centres"], mb["theta_centres"], mb["L_centres"]),
                                exact_curves):
                ax.plot(x, y, ls="--", lw=1.2, color=style.TRUTH_COLOUR, label="exact (ground truth)")
        for ax in (ax2, axt, axl):
            ax.axhline(0.0, color=style.GUIDE_COLOUR, lw=0.5)
        ax2.set(xlabel="r (Å)", ylabel="energy (kcal/mol)", title=f"{system} {label}: 2-body")
        axt.set(xlabel="largest angle θ (deg)", ylabel="energy (kcal/mol)", title=f"{system} {label}: 3-body vs θ")
        axl.set(xlabel="opposite edge L (Å)", ylabel="energy (kcal/mol)", title=f"{system} {label}: 3-body vs L")
        handles = [ax2.get_legend_handles_labels()]
        if (system, model) in rel:
            with np.load(rel[(system, model)]) as r:
                pr, tt, tl = _row_curves(r["pair_dist"], r["pair_rnorm"], r["trip_theta"], r["trip_L"],
                                         r["trip_rnorm"], mb)
            for ax, x, y in ((ax2, mb["r_centres"], pr), (axt, mb["theta_centres"], tt),
                             (axl, mb["L_centres"], tl)):
                tw = ax.twinx()
                tw.plot(x, y, "s-", ms=2.5, color=style.RELEVANCE_COLOUR, label="GNN-LRP (relevance / norm)")
                tw.set_ylabel("relevance / norm", color=style.RELEVANCE_COLOUR)
                tw.axhline(0.0, color=style.RELEVANCE_COLOUR, lw=0.3, ls=":")
                if ax is ax2:
                    handles.append(tw.get_legend_handles_labels())
        h = sum((x[0] for x in handles), [])
        lab = sum((x[1] for x in handles), [])
        ax2.legend(h, lab, frameon=False, fontsize=7)
    fig.suptitle("Many-body decomposition (isolated n-mers) vs GNN-LRP")
    fig.tight_layout()
    return _save(fig, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cgexplain plot-baselines", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--figure", required=True, choices=["S1", "S3", "S4"])
    p.add_argument("--out", required=True, type=Path, help="PDF path (a PNG is written next to it)")
    p.add_argument("--input", nargs=3, action="append", default=[], metavar=("SYSTEM", "SOURCE", "NPZ"),
                   help="observables file of one source (S1, S3)")
    p.add_argument("--manybody", nargs=3, action="append", default=[], metavar=("SYSTEM", "MODEL", "NPZ"),
                   help="many-body decomposition file (S4)")
    p.add_argument("--relevance", nargs=3, action="append", default=[], metavar=("SYSTEM", "MODEL", "NPZ"),
                   help="optional GNN-LRP relevance file to overlay (S4)")
    p.add_argument("--truth", nargs=2, action="append", default=[], metavar=("SYSTEM", "NPZ"),
                   help="exact decomposition of a ground-truth system (cgexplain manybody --truth), S4")
    a = p.parse_args(argv)
    if a.figure in ("S1", "S3"):
        if not a.input:
            p.error(f"figure {a.figure} needs --input SYSTEM SOURCE NPZ")
        title = ("Pair potential (IMC) vs neural network potentials" if a.figure == "S1"
                 else "Invariant (SchNet) vs equivariant networks")
        paths = plot_observables(a.input, a.out, title)
    else:
        if not a.manybody:
            p.error("figure S4 needs --manybody SYSTEM MODEL NPZ")
        paths = plot_manybody(a.manybody, a.relevance, a.out, a.truth)
    print(f"figure {a.figure} -> {', '.join(map(str, paths))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
