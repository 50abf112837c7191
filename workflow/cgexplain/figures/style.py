"""The one figure style: every colour, label, line style, colour map, font size and width of the figures.

A source (the AA reference, an architecture, a baseline, a cutoff-study model) has the same colour, label
and line style in every figure, and a quantity drawn beside it (relevance, many-body energy) has one colour
of its own that no source uses. Relevance maps share one diverging colour map with one sign convention:
red is destabilising (relevance > 0, the energy goes up), blue stabilising, white zero.

Every figure module draws through :func:`pyplot` (Agg backend, the theme, the font sizes) and writes
through :func:`save` (PDF + PNG side by side).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# --- sources: label, colour, line style, line width -------------------------------------------------------
SOURCES: dict[str, dict] = {
    "aa": dict(label="AA reference", color="black", ls="-", lw=2.0),
    "painn": dict(label="PaiNN", color="tab:blue", ls="--", lw=1.5),
    "so3net": dict(label="SO3net", color="tab:red", ls="-.", lw=1.5),
    "schnet": dict(label="SchNet", color="tab:green", ls=":", lw=1.5),
    "imc": dict(label="IMC (pair)", color="tab:purple", ls=(0, (5, 1)), lw=1.5),
}
#: colour map of the cutoff study's models, from the shortest cutoff (dark) to the longest (light)
CUTOFF_CMAP = "viridis"

# --- quantities drawn beside the sources ------------------------------------------------------------------
STRUCTURE_COLOUR = "black"        # RDF / pair-distance density behind a relevance curve
RELEVANCE_COLOUR = "tab:orange"   # GNN-LRP relevance curves
MANYBODY_COLOUR = "tab:brown"     # isolated n-mer energies of the many-body decomposition
TRUTH_COLOUR = "black"            # the exact terms of a ground-truth system (dashed beside a model's curve)
GUIDE_COLOUR = "0.7"              # reference lines (g = 1, zero)

# --- maps -------------------------------------------------------------------------------------------------
DIVERGING_CMAP = "RdBu_r"         # relevance: red destabilising (> 0), blue stabilising (< 0)
DENSITY_CMAP = "viridis"          # histograms and occurrence counts
FES_CMAP = "viridis"              # free-energy surfaces (kcal/mol, 0 at the minimum)
CONTACT_CMAP = "YlGnBu"           # contact frequencies
SPARSE_GREY = "0.6"               # bins with some, but too few, entries to be drawn
NAN_COLOUR = "0.86"               # cells with no data
RELEVANCE_LABEL = "2-body relevance (kcal/mol)"

# --- protein ----------------------------------------------------------------------------------------------
STATE_COLOURS = {"F": "#ff3b30", "U": "#ffa500", "P1": "#ff40ff", "P2": "#00e5ff"}
SS_COLOURS = {"strand": "#d99a00", "helix": "#2ca02c", "coil": "0.6"}

# --- sizes ------------------------------------------------------------------------------------------------
FONT_SIZE = 9                     # pt, axes labels and ticks (titles one step larger, legends one smaller)
SINGLE_COLUMN_IN = 3.5            # Nature Communications column widths, inches
DOUBLE_COLUMN_IN = 7.2
PNG_DPI = 150


def source_style(source: str) -> dict:
    """Matplotlib keyword arguments (``label``, ``color``, ``ls``, ``lw``) of a source; a cutoff-study
    model ``<arch>_c<cutoff>`` takes its architecture's line style and the label ``<Arch> <cutoff> Å``
    (its colour comes from :func:`cutoff_colours`); any other name is drawn grey with its own name."""
    from ..core.config import parse_cutoff_model

    if source in SOURCES:
        return dict(SOURCES[source])
    parsed = parse_cutoff_model(source)
    if parsed is not None:
        arch, cut = parsed
        base = SOURCES.get(arch, {})
        return dict(base, label=f"{base.get('label', arch)} {cut:g} Å", color=None)
    return dict(label=source, color="0.5", ls="-", lw=1.2)


def label(source: str) -> str:
    return source_style(source)["label"]


def colour(source: str):
    return source_style(source)["color"]


def cutoff_colours(n: int) -> np.ndarray:
    """``n`` RGBA colours of the cutoff study, shortest cutoff first."""
    import matplotlib

    return matplotlib.colormaps[CUTOFF_CMAP](np.linspace(0.1, 0.85, n))


def pyplot():
    """matplotlib.pyplot on the Agg backend with the project's theme (seaborn "ticks", paper context)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="ticks", context="paper", rc={
        "font.size": FONT_SIZE, "axes.labelsize": FONT_SIZE, "axes.titlesize": FONT_SIZE + 1,
        "xtick.labelsize": FONT_SIZE - 1, "ytick.labelsize": FONT_SIZE - 1, "legend.fontsize": FONT_SIZE - 1})
    return plt


def save(fig, out: str | Path) -> list[Path]:
    """Write ``fig`` as ``out`` with the suffix .pdf and .png (both), close it, return the two paths."""
    plt = pyplot()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".pdf"), out.with_suffix(".png")]
    fig.savefig(paths[0], bbox_inches="tight")
    fig.savefig(paths[1], dpi=PNG_DPI, bbox_inches="tight")
    plt.close(fig)
    return paths
