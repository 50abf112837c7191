"""Supplementary Figure S11: contact frequencies next to the mean 2-body relevance maps of F, P1 and P2.
"""

from __future__ import annotations

import numpy as np

from .. import style
from .fig5 import _state_tag
from .panels import (
    titled,
    _blocks,
    _frame,
    _heat,
    _residue_axes,
    _ss_tracks,
    diverging_map,
    elements_of,
    residue_labels,
    state_index,
    state_status,
    symmetric_limit,
)


def figS11_contacts(maps: dict, out) -> None:
    """Supplementary Fig. S11: contact frequency (Cα–Cα < 8 Å) next to the mean 2-body relevance, for F,
    P1 and P2 (full symmetric maps, relevance on one shared colour scale)."""
    plt = style.pyplot()
    labels = residue_labels(maps["bead_names"])
    elements = elements_of(maps)
    states = ("F", "P1", "P2")
    cut = float(np.asarray(maps.get("contact_cutoff_A", 8.0)))
    fig, axes = plt.subplots(len(states), 2, figsize=(13.5, 6.6 * len(states)))
    mats = {s: (None if state_status(maps, s) else maps["mean2"][state_index(maps, s)]) for s in states}
    lim, _ = symmetric_limit(*[m[np.triu_indices(len(labels), 1)] for m in mats.values() if m is not None])
    for row, s in zip(axes, states):
        status = state_status(maps, s)
        k = state_index(maps, s)
        C = None if k is None else np.asarray(maps["contact_freq"][k], dtype=np.float64)
        for ax in row:
            _residue_axes(ax, labels)
        if C is None or status == "not visited (0 frames)" or not np.isfinite(C).any():
            C = np.full((len(labels),) * 2, np.nan)
        mesh = _heat(row[0], C, style.CONTACT_CMAP, 0.0, 1.0)
        cb = fig.colorbar(mesh, ax=row[0], fraction=0.04, pad=0.07)
        cb.set_label(f"contact frequency (Cα–Cα < {cut:g} Å)", fontsize=8)
        M = mats[s] if mats[s] is not None else np.full((len(labels),) * 2, np.nan)
        diverging_map(fig, row[1], M, lim=lim)
        for ax, what in zip(row, ("contact frequency", "mean 2-body relevance")):
            _blocks(ax, elements)
            _ss_tracks(ax, elements, len(labels))
            ax.set_title(f"{_state_tag(maps, s)}: {what}", loc="left", fontsize=10, fontweight="bold", pad=30, y=1.0)
            if status:
                ax.text(0.5, 0.5, f"{s} {status}", transform=ax.transAxes, ha="center", va="center", fontsize=11,
                        bbox=dict(boxstyle="round", fc="white", ec="0.4"), zorder=6)
    fig.subplots_adjust(left=0.06, right=0.95, wspace=0.3, hspace=0.28, top=0.95, bottom=0.04)
    _frame(fig, axes.ravel(), titled(maps, "Contact frequency vs mean 2-body relevance per state (relevance: "
                                       "blue = stabilising, red = destabilising)"))
    style.save(fig, out)
