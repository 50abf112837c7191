"""Figure 6: the strongest 2- and 3-body interactions of the folded state on its structure (and PyMOL / ChimeraX scripts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import style
from ..molviewers import chimerax_script, pymol_script, relative_path, write_ca_pdb
from .panels import (
    titled,
    _draw_trace,
    _frame,
    _message_figure,
    _pair_legend,
    _str,
    elements_of,
    interaction_colour,
    principal_projection,
    residue_labels,
    ss_per_bead,
    state_index,
    state_status,
)


def strongest_pairs(m: np.ndarray, k: int, min_sep: int = 1) -> list[tuple[int, int, float]]:
    """The ``k`` pairs (i < j, j − i >= ``min_sep``) of largest |m[i, j]| (finite only), strongest first."""
    m = np.asarray(m, dtype=np.float64)
    i, j = np.triu_indices(len(m), max(1, int(min_sep)))
    v = m[i, j]
    ok = np.flatnonzero(np.isfinite(v))
    order = ok[np.argsort(-np.abs(v[ok]), kind="stable")][:max(0, int(k))]
    return [(int(i[o]), int(j[o]), float(v[o])) for o in order]


def strongest_triplets(trip_idx: np.ndarray, values: np.ndarray, k: int) -> list[tuple[int, int, int, float]]:
    """The ``k`` triplets of largest |value| (finite only), strongest first, as (i, j, l, value)."""
    t = np.asarray(trip_idx).reshape(-1, 3)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    ok = np.flatnonzero(np.isfinite(v))
    order = ok[np.argsort(-np.abs(v[ok]), kind="stable")][:max(0, int(k))]
    return [(int(t[o, 0]), int(t[o, 1]), int(t[o, 2]), float(v[o])) for o in order]


def fig6_strongest(maps: dict, out, pml_out, cxc_out, pdb_out, k: int = 5, min_sep: int = 1) -> None:
    """Fig. 6: the ``k`` strongest 2-body (a) and 3-body (b) interactions of state F on the folded
    structure, plus a Cα PDB and PyMOL / ChimeraX scripts drawing the same interactions."""
    labels = residue_labels(maps["bead_names"])
    elements = elements_of(maps)
    model = _str(maps.get("model"))
    coords = np.asarray(maps["folded_coords"], dtype=np.float64)
    write_ca_pdb(coords, maps["bead_names"], pdb_out, elements, title=f"folded Ca frame, cgexplain {model}")
    status = state_status(maps, "F")
    kF = state_index(maps, "F")
    pairs = [] if status else strongest_pairs(maps["mean2"][kF], k, min_sep)
    trips = [] if status or kF is None else strongest_triplets(maps["trip_idx"], maps["mean3"][kF], k)
    vmax2 = max([abs(v) for *_, v in pairs] + [0.0])
    vmax3 = max([abs(v) for *_, v in trips] + [0.0])
    col2 = [interaction_colour(v, vmax2) for *_, v in pairs]
    col3 = [interaction_colour(v, vmax3) for *_, v in trips]
    for path, writer in ((pml_out, pymol_script), (cxc_out, chimerax_script)):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = writer(relative_path(pdb_out, path), labels, coords, pairs, trips, col2, col3, model)
        if status:
            text = f"# state F {status}: no interactions drawn\n" + text
        path.write_text(text)
    if status:
        style.save(_message_figure(f"Folded state F {status}:\nno interactions to draw.",
                              "Fig. 6 – strongest interactions in F"), out)
        return
    plt = style.pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon

    xy = principal_projection(coords)
    kinds = ss_per_bead(elements, len(labels))
    ok = np.isfinite(xy).all(1)
    span = np.ptp(xy[ok], axis=0) if ok.sum() > 1 else np.ones(2)
    ratio = float(np.clip(span[1] / max(span[0], 1e-9), 0.45, 1.2))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6 * ratio + 0.8))
    fig.subplots_adjust(left=0.03, right=0.97, wspace=0.12, top=0.9, bottom=0.05)
    ax = axes[0]
    handles = []
    for (i, j, v), c in zip(pairs[::-1], col2[::-1]):   # strongest drawn last (on top)
        ax.plot(xy[[i, j], 0], xy[[i, j], 1], color=c, lw=1.5 + 3.5 * abs(v) / vmax2, solid_capstyle="round",
                zorder=3)
    for (i, j, v), c in zip(pairs, col2):
        handles.append(Line2D([], [], color=c, lw=1.5 + 3.5 * abs(v) / vmax2,
                              label=f"{labels[i]}–{labels[j]}: {v:+.3f}"))
    _draw_trace(ax, xy, kinds, labels, label_beads={b for p in pairs for b in p[:2]})
    ax.set_title(f"a  {len(pairs)} strongest 2-body interactions (F)", loc="left", fontsize=10, fontweight="bold")
    _pair_legend(ax, handles, "mean 2-body relevance (kcal/mol)")
    ax = axes[1]
    handles = []
    for (i, j, l, v), c in zip(trips[::-1], col3[::-1]):
        ax.add_patch(Polygon(xy[[i, j, l]], closed=True, fc=(*c, 0.45), ec=c, lw=1.0 + 2.5 * abs(v) / vmax3,
                             zorder=3))
    for (i, j, l, v), c in zip(trips, col3):
        handles.append(Polygon(np.zeros((3, 2)), fc=(*c, 0.45), ec=c, label=f"{labels[i]}–{labels[j]}–{labels[l]}: "
                               f"{v:+.3f}"))
    _draw_trace(ax, xy, kinds, labels, label_beads={b for t in trips for b in t[:3]})
    ax.set_title(f"b  {len(trips)} strongest 3-body interactions (F)", loc="left", fontsize=10, fontweight="bold")
    ss_handles = [Line2D([], [], color=style.SS_COLOURS[s], lw=2.6, label=s) for s in ("strand", "helix", "coil")]
    axes[1].add_artist(axes[1].legend(handles=ss_handles, loc="upper right", fontsize=7, frameon=False,
                                      title="Cα trace", title_fontsize=7))
    _pair_legend(axes[1], handles, "mean 3-body relevance (kcal/mol)")
    _frame(fig, axes, titled(maps, f"Folded protein{f' ({model})' if model else ''}, Cα trace on its principal "
                             "axes: blue = stabilising, red = destabilising, darker/thicker = stronger"), above_in=0.4)
    style.save(fig, out)
