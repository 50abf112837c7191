"""Figure 7: mutation effects — the change of the 2-body relevance map and the most changed pairs on the structure.
"""

from __future__ import annotations

import numpy as np

from .. import style
from .fig6 import strongest_pairs
from .panels import (
    titled,
    _draw_trace,
    _message_figure,
    _relevance_panel,
    _str,
    elements_of,
    interaction_colour,
    principal_projection,
    residue_labels,
    split_matrix,
    ss_per_bead,
    state_index,
    state_status,
)


def fig7_mutations(maps: dict, out, k: int = 5) -> None:
    """Fig. 7: a: mutant − wild-type (state F) 2-body relevance, first mutation upper, second lower;
    b, c: the folded structure, mutated residue in gray, the ``k`` most changed pairs."""
    status = state_status(maps, "F")
    muts = [str(m) for m in np.asarray(maps.get("mutations", [])).tolist()][:2]
    if status:
        style.save(_message_figure(f"Folded state F {status}:\nno mutation effect to show.", "Fig. 7 – mutations"), out)
        return
    if not muts or "mut_mean2" not in maps:
        style.save(_message_figure("No mutations in the maps file.", "Fig. 7 – mutations"), out)
        return
    plt = style.pyplot()
    from matplotlib.lines import Line2D

    labels = residue_labels(maps["bead_names"])
    elements = elements_of(maps)
    N = len(labels)
    F = maps["mean2"][state_index(maps, "F")]
    deltas = [np.asarray(maps["mut_mean2"][m], dtype=np.float64) - F for m in range(len(muts))]
    idx = [int(np.asarray(maps["mut_index"])[m]) if "mut_index" in maps else -1 for m in range(len(muts))]
    M = split_matrix(deltas[0], deltas[1] if len(deltas) > 1 else None, N)
    fig = plt.figure(figsize=(15, 7.6))
    gs = fig.add_gridspec(2, 2, width_ratios=[1.55, 1.0], hspace=0.25, wspace=0.12)
    ax = fig.add_subplot(gs[:, 0])
    lower = f"{muts[1]} − WT" if len(muts) > 1 else "(no second mutation)"
    _relevance_panel(fig, ax, M, labels, elements, "a  mutant − wild type (folded frames)", f"{muts[0]} − WT",
                     lower, (None, None), label="Δ 2-body relevance (kcal/mol)")
    for m in idx:   # mark the mutated residue's row and column
        if 0 <= m < N:
            ax.axhline(m + 1, color="0.3", lw=0.5, ls=":", zorder=5)
            ax.axvline(m + 1, color="0.3", lw=0.5, ls=":", zorder=5)
    xy = principal_projection(np.asarray(maps["folded_coords"], dtype=np.float64))
    kinds = ss_per_bead(elements, N)
    for p, (name, d, mi) in enumerate(zip(muts, deltas, idx)):
        axs = fig.add_subplot(gs[p, 1])
        top = strongest_pairs(d, k)
        vmax = max([abs(v) for *_, v in top] + [0.0])
        handles = []
        for i, j, v in top[::-1]:
            axs.plot(xy[[i, j], 0], xy[[i, j], 1], color=interaction_colour(v, vmax),
                     lw=1.5 + 3.5 * abs(v) / vmax if vmax else 2, solid_capstyle="round", zorder=3)
        for i, j, v in top:
            handles.append(Line2D([], [], color=interaction_colour(v, vmax), lw=2.5,
                                  label=f"{labels[i]}–{labels[j]}: Δ {v:+.3f}"))
        _draw_trace(axs, xy, kinds, labels, label_beads={b for t in top for b in t[:2]} | {mi} - {-1},
                    highlight=mi)
        axs.set_title(f"{'bc'[p]}  {name}: {len(top)} most changed pairs (mutated residue in gray)", loc="left",
                      fontsize=9.5, fontweight="bold")
        axs.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False,
                   title="Δ relevance (kcal/mol)", title_fontsize=7.5)
    model = _str(maps.get("model"))
    fig.suptitle(titled(maps, f"Effect of mutations{f' ({model})' if model else ''}: red = higher relevance in "
                              "the mutant (destabilised), blue = lower (stabilised)"), fontsize=10)
    style.save(fig, out)
