"""Figure 5: 2-body relevance maps of the folded and unfolded states, and the differences of the intermediates P1, P2 from F.
"""

from __future__ import annotations

import numpy as np

from .. import style
from .panels import (
    titled,
    STATES,
    _frame,
    _n_frames,
    _note,
    _relevance_panel,
    _str,
    elements_of,
    residue_labels,
    split_matrix,
    state_index,
    state_status,
)


def pair_difference(a, b, se_a=None, se_b=None, mask_se: bool = False, nsigma: float = 2.0) -> np.ndarray:
    """``a − b``; with ``mask_se``, NaN where ``|a − b| <= nsigma * sqrt(se_a² + se_b²)``.

    A pair whose standard error is unknown (NaN) cannot be shown to differ and is blanked too."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = a - b
    if mask_se:
        se = np.sqrt(np.asarray(se_a, dtype=np.float64) ** 2 + np.asarray(se_b, dtype=np.float64) ** 2)
        keep = np.abs(d) > nsigma * se            # False for NaN d or NaN se
        d = np.where(keep, d, np.nan)
    return d


def fig5_matrices(maps: dict, mask_se: bool = False, nsigma: float = 2.0):
    """The two plotted matrices of Fig. 5 and what each triangle says instead when it has no data.

    Returns ``(Ma, Mb, notes)``: ``Ma`` = :func:`split_matrix` (mean2[F], mean2[U]); ``Mb`` =
    (mean2[P1] − mean2[F], mean2[P2] − mean2[F]), each difference blanked within ``nsigma`` standard
    errors when ``mask_se``; ``notes`` = {"a_upper", "a_lower", "b_upper", "b_lower"} → message or None.
    """
    N = len(maps["bead_names"])
    st = {s: state_status(maps, s) for s in STATES}

    def mean(s):
        return None if st[s] else maps["mean2"][state_index(maps, s)]

    def se(s):
        return maps["se2"][state_index(maps, s)]

    def diff(s):
        if st[s] or st["F"]:
            return None
        return pair_difference(mean(s), mean("F"), se(s), se("F"), mask_se=mask_se, nsigma=nsigma)

    Ma = split_matrix(mean("F"), mean("U"), N)
    Mb = split_matrix(diff("P1"), diff("P2"), N)
    notes = {"a_upper": _note("F", st["F"]), "a_lower": _note("U", st["U"]),
             "b_upper": _note("P1", st["P1"]) or _note("F", st["F"]),
             "b_lower": _note("P2", st["P2"]) or _note("F", st["F"])}
    return Ma, Mb, notes


def _prior_table(maps: dict) -> str:
    names = [str(n) for n in np.asarray(maps.get("prior_term_names", ["bond", "angle", "dihedral",
                                                                       "repulsion"])).tolist()]
    pt = maps.get("prior_terms")
    head = "prior mean energy per term (kcal/mol), reported beside, not in the map"
    lines = [head, "state " + "".join(f"{n:>11s}" for n in names)]
    for s in STATES:
        k = state_index(maps, s)
        row = None if pt is None or k is None else np.asarray(pt, dtype=np.float64)[k]
        if row is None or not np.isfinite(row).any():
            lines.append(f"{s:<6s}" + "   not visited / not available")
        else:
            lines.append(f"{s:<6s}" + "".join(f"{v:11.2f}" for v in row))
    return "\n".join(lines)


def _state_tag(maps, s):
    n = _n_frames(maps, s)
    return s if n is None else f"{s} ({n} frames)"


def _fig5_figure(maps: dict, mask_se: bool = False):
    plt = style.pyplot()
    labels = residue_labels(maps["bead_names"])
    elements = elements_of(maps)
    Ma, Mb, notes = fig5_matrices(maps, mask_se=mask_se)
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 7.0))
    fig.subplots_adjust(left=0.05, right=0.95, wspace=0.3)
    model = _str(maps.get("model"))
    _relevance_panel(fig, axes[0], Ma, labels, elements, "a  mean 2-body relevance",
                     _state_tag(maps, "F"), _state_tag(maps, "U"), (notes["a_upper"], notes["a_lower"]))
    sig = ", |Δ| > 2 SE only" if mask_se else ""
    _relevance_panel(fig, axes[1], Mb, labels, elements, f"b  relevance difference to F{sig}",
                     f"{_state_tag(maps, 'P1')} − F", f"{_state_tag(maps, 'P2')} − F",
                     (notes["b_upper"], notes["b_lower"]), label="Δ 2-body relevance (kcal/mol)")
    _frame(fig, axes, titled(maps, f"Relevance contact maps{f' ({model})' if model else ''}: negative (blue) = "
                             "stabilising, positive (red) = destabilising; black boxes: β1–β2, β1–β3 and helix "
                             "contacts"),
           below_text=_prior_table(maps), family="monospace", fontsize=7.5, multialignment="left",
           bbox=dict(boxstyle="round", fc="0.97", ec="0.6"))
    return fig


def fig5_state_maps(maps: dict, out, mask_se: bool = False) -> None:
    """Fig. 5: a: F (upper) / U (lower) mean 2-body relevance; b: P1 − F (upper) / P2 − F (lower)."""
    style.save(_fig5_figure(maps, mask_se), out)
