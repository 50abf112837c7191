"""Figure 4: AA and CG free-energy surfaces on the first two TICA components, with the state regions and representative structures.
"""

from __future__ import annotations

import numpy as np

from .. import style
from .panels import STATES, _draw_trace, _str, titled, elements_of, principal_projection, residue_labels, ss_per_bead


def state_region(proj: np.ndarray, ex, ey, level: float = 0.9, min_frames: int = 20):
    """Outline of one state's frames in TICA space.

    Returns None (no frames), ``("contour", cx, cy, H, threshold, label_xy)`` (smoothed 2D histogram on the
    FES bins and the density threshold enclosing ``level`` of the frames) or ``("hull", polygon (K, 2),
    label_xy)`` for fewer than ``min_frames`` frames."""
    p = np.asarray(proj, dtype=np.float64).reshape(-1, 2)
    p = p[np.isfinite(p).all(1)]
    if len(p) == 0:
        return None
    if len(p) >= min_frames:
        from scipy.ndimage import gaussian_filter

        H = gaussian_filter(np.histogram2d(p[:, 0], p[:, 1], bins=[ex, ey])[0], 1.0)
        if H.sum() > 0:
            v = np.sort(H.ravel())[::-1]
            thr = v[min(np.searchsorted(np.cumsum(v), level * v.sum()), len(v) - 1)]
            cx, cy = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1])
            a, b = np.unravel_index(np.argmax(H), H.shape)
            return ("contour", cx, cy, H, float(thr), (cx[a], cy[b]))
    label = tuple(np.median(p, axis=0))
    if len(p) >= 3:
        try:
            from scipy.spatial import ConvexHull

            hull = ConvexHull(p)
            return ("hull", p[hull.vertices], label)
        except Exception:  # noqa: BLE001 - collinear / duplicate points
            pass
    return ("hull", p, label)


def _draw_region(ax, region, colour, name):
    import matplotlib.patheffects as pe
    from matplotlib.patches import Polygon

    stroke = [pe.Stroke(linewidth=3.2, foreground="k"), pe.Normal()]
    if region[0] == "contour":
        _, cx, cy, H, thr, lab = region
        cs = ax.contour(cx, cy, H.T, levels=[thr], colors=[colour], linewidths=1.6, zorder=3)
        cs.set_path_effects(stroke)
    else:
        _, poly, lab = region
        if len(poly) >= 3:
            ax.add_patch(Polygon(poly, closed=True, fill=False, ec=colour, lw=1.6, zorder=3, path_effects=stroke))
        else:
            ax.scatter(poly[:, 0], poly[:, 1], s=30, c=colour, ec="k", zorder=3)
    ax.text(lab[0], lab[1], name, color="k", fontsize=10, fontweight="bold", ha="center", va="center", zorder=6,
            bbox=dict(boxstyle="round,pad=0.2", fc=colour, ec="k", lw=0.6, alpha=0.9))


def fig4_fes(fes: dict, out) -> None:
    """Fig. 4: AA (left) and CG (right) TICA free-energy surfaces on one colour scale, the four state
    regions outlined on both, and one representative structure per state on the left."""
    plt = style.pyplot()
    from matplotlib.lines import Line2D

    ex, ey = np.asarray(fes["edges_x"], dtype=np.float64), np.asarray(fes["edges_y"], dtype=np.float64)
    A, C = np.asarray(fes["fes_aa"], dtype=np.float64), np.asarray(fes["fes_cg"], dtype=np.float64)
    fin = np.concatenate([A[np.isfinite(A)], C[np.isfinite(C)]])
    vmax = float(fin.max()) if fin.size and fin.max() > 0 else 1.0
    names = [str(s) for s in np.asarray(fes.get("state_names", STATES)).tolist()]
    labels_aa, labels_cg = np.asarray(fes["aa_states"]).astype(str), np.asarray(fes["cg_states"]).astype(str)
    model = _str(fes.get("model"))
    fig = plt.figure(figsize=(15.5, 6.0))
    gs = fig.add_gridspec(2, 5, width_ratios=[1.25, 1.25, 2.5, 2.5, 0.09], wspace=0.22, hspace=0.3,
                          left=0.02, right=0.96)
    ax_aa, ax_cg = fig.add_subplot(gs[:, 2]), fig.add_subplot(gs[:, 3])
    cax = fig.add_subplot(gs[:, 4])
    regions = {}
    for s in STATES:
        r = state_region(fes["aa_proj"][labels_aa == s], ex, ey)
        src = "AA"
        if r is None:
            r, src = state_region(fes["cg_proj"][labels_cg == s], ex, ey), "CG"
        regions[s] = (r, src)
    for ax, F, lab, title in ((ax_aa, A, labels_aa, "AA reference"),
                              (ax_cg, C, labels_cg, f"CG{f' ({model})' if model else ''}")):
        im = ax.pcolormesh(ex, ey, np.ma.masked_invalid(F.T), cmap=style.FES_CMAP, vmin=0.0, vmax=vmax,
                           shading="flat", rasterized=True)
        ax.set_facecolor("white")
        handles = []
        for s in STATES:
            r, src = regions[s]
            n = int((lab == s).sum())
            if r is not None:
                _draw_region(ax, r, style.STATE_COLOURS[s], s)
            txt = f"{s}: {100 * n / max(1, len(lab)):.1f}% ({n} frames)" if n else f"{s}: not visited"
            if r is not None and src != "AA":
                txt += " [region from CG frames]"
            handles.append(Line2D([], [], color=style.STATE_COLOURS[s], lw=2.5, label=txt))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.11), fontsize=7.5, frameon=False,
                  ncol=2)
        ax.set(xlabel="TIC 1", ylabel="TIC 2", xlim=(ex[0], ex[-1]), ylim=(ey[0], ey[-1]))
        ax.set_title(title, fontsize=11)
    cb = fig.colorbar(im, cax=cax)
    cb.set_label("free energy (kcal/mol)")
    elements = elements_of(fes)
    rep, found = np.asarray(fes["rep_coords"], dtype=np.float64), np.asarray(fes["rep_found"], bool)
    blabels = residue_labels(fes["bead_names"])
    for k, s in enumerate(STATES):
        ax = fig.add_subplot(gs[k // 2, k % 2])
        i = names.index(s) if s in names else k
        ok = i < len(found) and found[i] and np.isfinite(rep[i]).all()
        if ok:
            _draw_trace(ax, principal_projection(rep[i]), ss_per_bead(elements, len(blabels)), blabels,
                        rainbow=not elements, lw=2.0, fs=6)
        else:
            ax.axis("off")
            ax.text(0.5, 0.5, "not visited", ha="center", va="center", fontsize=10, transform=ax.transAxes)
        ax.set_title(s, color="k", fontsize=11, fontweight="bold",
                     bbox=dict(boxstyle="round,pad=0.2", fc=style.STATE_COLOURS[s], ec="k", lw=0.6))
    note = ("structures: Cα trace on its principal axes, " +
            ("β-strands gold, helix green" if elements else "coloured N (blue) → C (red)"))
    fig.text(0.02, 0.02, note, fontsize=7.5, color="0.3")
    fig.suptitle(titled(fes, "Free energy surface on the first two TICA components: AA reference (left) vs CG "
                             "(right); regions hold 90% of each state's AA frames"), fontsize=10.5)
    style.save(fig, out)
