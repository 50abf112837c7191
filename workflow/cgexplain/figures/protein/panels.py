"""Shared pieces of the NTL9 figures: the fes/maps file loaders, residue axes, secondary-structure tracks, relevance panels, Cα traces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...analysis.folding import PAIRINGS
from .. import style
from ..molviewers import ss_kind

STATES = ("F", "U", "P1", "P2")


FES_KEYS = ("aa_proj", "cg_proj", "edges_x", "edges_y", "fes_aa", "fes_cg", "aa_states", "cg_states",
            "rep_coords", "rep_found", "bead_names")


MAPS_KEYS = ("states", "n_frames", "mean2", "se2", "contact_freq", "trip_idx", "mean3", "bead_names",
             "folded_coords")


def _load(path, keys: tuple[str, ...], what: str) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as d:
            data = {k: d[k] for k in d.files}
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ValueError(f"{what} file {path} is not a readable npz ({type(e).__name__}: {e})") from None
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"{what} file {path} lacks {missing}")
    return data


def load_fes(path) -> dict:
    """``fes.npz`` as a dict, with its keys and shapes checked (ValueError naming the file)."""
    d = _load(path, FES_KEYS, "fes")
    nx, ny = len(d["edges_x"]) - 1, len(d["edges_y"]) - 1
    problems = []
    for k in ("fes_aa", "fes_cg"):
        if d[k].shape != (nx, ny):
            problems.append(f"{k} {d[k].shape} != ({nx}, {ny})")
    for p, s in (("aa_proj", "aa_states"), ("cg_proj", "cg_states")):
        if d[p].ndim != 2 or d[p].shape[1] != 2 or len(d[p]) != len(d[s]):
            problems.append(f"{p} {d[p].shape} vs {s} {d[s].shape}")
    N = len(d["bead_names"])
    if d["rep_coords"].shape != (len(STATES), N, 3):
        problems.append(f"rep_coords {d['rep_coords'].shape} != ({len(STATES)}, {N}, 3)")
    if problems:
        raise ValueError(f"fes file {path}: " + "; ".join(problems))
    return d


def load_maps(path) -> dict:
    """``maps.npz`` as a dict, with its keys and shapes checked (ValueError naming the file)."""
    d = _load(path, MAPS_KEYS, "maps")
    S, N = len(d["states"]), len(d["bead_names"])
    problems = []
    for k in ("mean2", "se2", "contact_freq"):
        if d[k].shape != (S, N, N):
            problems.append(f"{k} {d[k].shape} != ({S}, {N}, {N})")
    T = len(d["trip_idx"])
    if d["mean3"].shape != (S, T):
        problems.append(f"mean3 {d['mean3'].shape} != ({S}, {T})")
    if d["folded_coords"].shape != (N, 3):
        problems.append(f"folded_coords {d['folded_coords'].shape} != ({N}, 3)")
    if "mutations" in d:
        M = len(d["mutations"])
        for k in ("mut_mean2", "mut_se2"):
            if k in d and d[k].shape != (M, N, N):
                problems.append(f"{k} {d[k].shape} != ({M}, {N}, {N})")
    if problems:
        raise ValueError(f"maps file {path}: " + "; ".join(problems))
    return d


def _str(x, default="") -> str:
    if x is None:
        return default
    a = np.asarray(x)
    return str(a.item() if a.ndim == 0 else a)


def titled(d: dict, text: str) -> str:
    """``text`` prefixed by the figure's system label (``d["label"]``, set by ``plot-protein --label``: which
    NTL9 the figure shows), if any."""
    label = _str(d.get("label"))
    return f"{label}: {text}" if label else text


def residue_labels(names) -> list[str]:
    """``["MET", "LYS", …]`` → ``["MET1", "LYS2", …]`` (residue numbers 1..N)."""
    return [f"{str(n).strip().upper()}{i + 1}" for i, n in enumerate(np.asarray(names).tolist())]


def elements_of(d: dict) -> list[tuple[str, int, int]]:
    """``[(name, start, end), …]`` 0-based inclusive bead ranges (empty if the file has none)."""
    names, ranges = d.get("elements_names"), d.get("elements_ranges")
    if names is None or ranges is None:
        return []
    ranges = np.asarray(ranges).reshape(-1, 2)
    return [(str(n), int(a), int(b)) for n, (a, b) in zip(np.asarray(names).tolist(), ranges)]


def _ss_label(name: str) -> str:
    kind, digits = ss_kind(name), "".join(c for c in name if c.isdigit())
    return {"strand": "β", "helix": "α"}.get(kind, name) + digits if kind != "coil" else name


def ss_per_bead(elements, n: int) -> list[str]:
    kinds = ["coil"] * n
    for name, a, b in elements:
        for i in range(max(a, 0), min(b, n - 1) + 1):
            kinds[i] = ss_kind(name)
    return kinds


def block_pairs(elements) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Element×element rectangles to outline: the native pairings of :data:`cgexplain.analysis.folding.PAIRINGS`
    (β1×β2, β1×β3, helix×helix) when those elements exist, else every element pair (diagonal included).
    Each item is ((row_start, row_end), (col_start, col_end)), 0-based inclusive."""
    rng = {name: (a, b) for name, a, b in elements}
    pairs = []
    for p in PAIRINGS:
        a, b = (p.split("_") + [p])[:2] if "_" in p else (p, p)
        if a in rng and b in rng:
            pairs.append((rng[a], rng[b]))
    if not pairs:
        items = list(rng.values())
        pairs = [(items[x], items[y]) for x in range(len(items)) for y in range(x, len(items))]
    return pairs


def state_index(d: dict, state: str) -> int | None:
    names = [str(s) for s in np.asarray(d.get("states", d.get("state_names", STATES))).tolist()]
    return names.index(state) if state in names else None


def state_status(maps: dict, state: str) -> str | None:
    """None when the state has a 2-body map, else why not ("not visited (0 frames)", …)."""
    k = state_index(maps, state)
    if k is None:
        return "not in the maps file"
    n = int(np.asarray(maps["n_frames"])[k]) if "n_frames" in maps else -1
    if n == 0:
        return "not visited (0 frames)"
    if not np.isfinite(maps["mean2"][k]).any():
        return f"no pair data ({n} frames)" if n > 0 else "no pair data"
    return None


def _n_frames(maps: dict, state: str) -> int | None:
    k = state_index(maps, state)
    if k is None or "n_frames" not in maps:
        return None
    return int(np.asarray(maps["n_frames"])[k])


def split_matrix(upper: np.ndarray | None, lower: np.ndarray | None, n: int | None = None) -> np.ndarray:
    """(N, N) matrix with ``upper[i, j]`` for i < j, ``lower[i, j]`` for i > j, NaN on the diagonal.

    ``None`` for either half leaves it NaN (e.g. a state that was never visited)."""
    if n is None:
        n = len(upper) if upper is not None else len(lower)
    out = np.full((n, n), np.nan)
    iu, il = np.triu_indices(n, 1), np.tril_indices(n, -1)
    if upper is not None:
        out[iu] = np.asarray(upper, dtype=np.float64)[iu]
    if lower is not None:
        out[il] = np.asarray(lower, dtype=np.float64)[il]
    return out


def _note(state, status):
    return f"{state} {status}" if status else None


def symmetric_limit(*arrays, q: float = 99.0) -> tuple[float, bool]:
    """(limit, clipped): the ``q``-th percentile of |finite values| (1.0 when there are none)."""
    vals = [np.abs(np.asarray(a, dtype=np.float64)) for a in arrays if a is not None]
    v = np.concatenate([x[np.isfinite(x)].ravel() for x in vals]) if vals else np.zeros(0)
    if v.size == 0:
        return 1.0, False
    lim = float(np.percentile(v, q))
    if lim <= 0:
        lim = float(v.max())
    if lim <= 0:
        return 1.0, False
    return lim, bool(v.max() > lim * (1 + 1e-9))


def interaction_colour(value: float, vmax: float) -> tuple[float, float, float]:
    """RGB of an interaction: Blues for negative (stabilising), Reds for positive, darker when stronger."""
    from matplotlib import colormaps

    s = min(1.0, abs(value) / vmax) if vmax > 0 else 1.0
    rgba = colormaps["Blues" if value < 0 else "Reds"](0.45 + 0.55 * s)
    return tuple(float(c) for c in rgba[:3])


def principal_projection(coords: np.ndarray) -> np.ndarray:
    """(N, 2) projection of (N, 3) coordinates on their two principal axes (largest spread first)."""
    x = np.asarray(coords, dtype=np.float64)
    ok = np.isfinite(x).all(1)
    c = x - x[ok].mean(0)
    _, _, vt = np.linalg.svd(c[ok], full_matrices=False)
    p = c @ vt[:2].T
    for a in range(2):  # deterministic orientation: first bead on the negative side
        if p[ok][0, a] > 0:
            p[:, a] *= -1
    return p


def _residue_axes(ax, labels: list[str]) -> None:
    n = len(labels)
    step = max(1, int(np.ceil(n / 60)))
    fs = 4.6 if n <= 45 else 3.8
    ticks = np.arange(1, n + 1, step)
    ax.set_xlim(0.5, n + 0.5)
    ax.set_ylim(n + 0.5, 0.5)
    ax.set_xticks(ticks)
    ax.set_xticklabels([labels[t - 1] for t in ticks], rotation=90, fontsize=fs)
    ax.set_yticks(ticks)
    ax.set_yticklabels([labels[t - 1] for t in ticks], fontsize=fs)
    ax.tick_params(length=1.5, width=0.4, pad=1)
    ax.set_aspect("equal")
    ax.set_facecolor(style.NAN_COLOUR)


def _heat(ax, M, cmap, vmin, vmax):
    n = len(M)
    e = np.arange(n + 1) + 0.5
    return ax.pcolormesh(e, e, np.ma.masked_invalid(M), cmap=cmap, vmin=vmin, vmax=vmax, shading="flat",
                         rasterized=True)


def diverging_map(fig, ax, M, lim=None, label=style.RELEVANCE_LABEL):
    """Residue-pair map on a colour scale symmetric about 0 (blue negative, red positive) with colour bar.

    Same colour convention as :func:`cgexplain.figures.relevance._diverging_mesh`, on residue axes, with a
    given (shared) limit; returns the QuadMesh."""
    clipped = False
    if lim is None:
        lim, clipped = symmetric_limit(M)
    else:
        fin = np.abs(M[np.isfinite(M)])
        clipped = bool(fin.size and fin.max() > lim * (1 + 1e-9))
    mesh = _heat(ax, M, style.DIVERGING_CMAP, -lim, lim)
    cb = fig.colorbar(mesh, ax=ax, fraction=0.04, pad=0.07, extend="both" if clipped else "neither")
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return mesh


def _ss_tracks(ax, elements, n: int) -> None:
    """β-strands as arrows and helices as waves along the top (x) and right (y) edges of a map."""
    xt, yt = ax.get_xaxis_transform(), ax.get_yaxis_transform()
    pos, amp = 1.022, 0.009
    for name, a, b in elements:
        kind = ss_kind(name)
        lo, hi = a + 1 - 0.45, b + 1 + 0.45
        col = style.SS_COLOURS[kind] if kind != "coil" else "0.3"
        if kind == "strand":
            arrow = dict(arrowstyle="-|>,head_length=0.35,head_width=0.22", lw=2.0, color=col, shrinkA=0,
                         shrinkB=0)
            ax.annotate("", xy=(hi, pos), xytext=(lo, pos), xycoords=xt, textcoords=xt, arrowprops=arrow,
                        annotation_clip=False)
            ax.annotate("", xy=(pos, hi), xytext=(pos, lo), xycoords=yt, textcoords=yt, arrowprops=arrow,
                        annotation_clip=False)
        elif kind == "helix":
            t = np.linspace(lo, hi, 30 * max(1, b - a + 1))
            w = pos + amp * np.sin(2 * np.pi * (t - lo) / 1.8)
            ax.plot(t, w, transform=xt, clip_on=False, color=col, lw=1.1)
            ax.plot(w, t, transform=yt, clip_on=False, color=col, lw=1.1)
        else:
            ax.plot([lo, hi], [pos, pos], transform=xt, clip_on=False, color=col, lw=2)
            ax.plot([pos, pos], [lo, hi], transform=yt, clip_on=False, color=col, lw=2)
        lab = _ss_label(name)
        ax.text(0.5 * (lo + hi), pos + 0.018, lab, transform=xt, ha="center", va="bottom", fontsize=7,
                color=col, clip_on=False)
        ax.text(pos + 0.018, 0.5 * (lo + hi), lab, transform=yt, ha="left", va="center", fontsize=7,
                color=col, clip_on=False)


def _blocks(ax, elements) -> None:
    from matplotlib.patches import Rectangle

    for (r0, r1), (c0, c1) in block_pairs(elements):
        rects = {((r0, r1), (c0, c1)), ((c0, c1), (r0, r1))}
        for (a0, a1), (b0, b1) in rects:   # rows (y) a, columns (x) b
            ax.add_patch(Rectangle((b0 + 0.5, a0 + 0.5), b1 - b0 + 1, a1 - a0 + 1, fill=False, ec="k",
                                   lw=0.9, zorder=4))


def _triangle_labels(ax, upper: str, lower: str, notes: tuple[str | None, str | None]) -> None:
    box = dict(boxstyle="round,pad=0.25", fc="white", ec="0.5", lw=0.5, alpha=0.9)
    ax.text(0.985, 0.985, upper, transform=ax.transAxes, ha="right", va="top", fontsize=8, bbox=box, zorder=6)
    ax.text(0.015, 0.015, lower, transform=ax.transAxes, ha="left", va="bottom", fontsize=8, bbox=box, zorder=6)
    for note, (x, y) in zip(notes, ((0.68, 0.68), (0.32, 0.32))):
        if note:
            ax.text(x, y, note, transform=ax.transAxes, ha="center", va="center", fontsize=9, rotation=-45,
                    color="0.15", bbox=dict(boxstyle="round", fc="white", ec="0.4"), zorder=6)


def _relevance_panel(fig, ax, M, labels, elements, title, upper, lower, notes, lim=None, label=style.RELEVANCE_LABEL):
    _residue_axes(ax, labels)
    mesh = diverging_map(fig, ax, M, lim=lim, label=label)
    _blocks(ax, elements)
    _ss_tracks(ax, elements, len(labels))
    _triangle_labels(ax, upper, lower, notes)
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold", pad=30, y=1.0)
    return mesh


def _draw_trace(ax, xy, kinds, labels, label_beads=(), highlight=None, rainbow=False, lw=2.6, fs=7):
    from matplotlib.collections import LineCollection

    n = len(xy)
    ok = np.isfinite(xy).all(1)
    segs, cols = [], []
    cmap = None
    if rainbow:
        from matplotlib import colormaps

        cmap = colormaps["rainbow"]
    for i in range(n - 1):
        if not (ok[i] and ok[i + 1]):
            continue
        segs.append([xy[i], xy[i + 1]])
        if rainbow:
            cols.append(cmap(i / max(1, n - 2)))
        else:
            cols.append(style.SS_COLOURS[kinds[i]] if kinds[i] == kinds[i + 1] else style.SS_COLOURS["coil"])
    ax.add_collection(LineCollection(segs, colors=cols, linewidths=lw, capstyle="round", zorder=1))
    ax.scatter(xy[ok, 0], xy[ok, 1], s=6, c="0.35", zorder=2, lw=0)
    if highlight is not None and 0 <= highlight < n and ok[highlight]:
        ax.scatter([xy[highlight, 0]], [xy[highlight, 1]], s=260, c="0.55", ec="0.2", lw=0.8, zorder=5,
                   alpha=0.9)
    centre = xy[ok].mean(0)
    span = float(np.ptp(xy[ok], axis=0).max()) if ok.sum() > 1 else 1.0
    for b in sorted(set(label_beads)):
        if not ok[b]:
            continue
        d = xy[b] - centre
        d = d / (np.linalg.norm(d) + 1e-9)
        p = xy[b] + 0.06 * span * d
        ax.text(p[0], p[1], labels[b], fontsize=fs, ha="center", va="center", zorder=7,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75))
    for b, t in ((0, "N"), (n - 1, "C")):
        if ok[b] and b not in label_beads:
            ax.text(xy[b, 0], xy[b, 1], f" {t}", fontsize=fs, color="0.3", ha="left", va="bottom", zorder=6)
    pad = 0.12 * span
    ax.set_xlim(xy[ok, 0].min() - pad, xy[ok, 0].max() + pad)
    ax.set_ylim(xy[ok, 1].min() - pad, xy[ok, 1].max() + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


def _message_figure(text: str, title: str = ""):
    plt = style.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, wrap=True, transform=ax.transAxes)
    return fig


def _frame(fig, axes, title: str | None = None, above_in: float = 0.7, below_text: str | None = None,
           below_in: float = 0.75, **text_kw) -> None:
    """Suptitle ``above_in`` inches above and a text block ``below_in`` inches below the drawn extent of
    ``axes`` (after their fixed aspect is applied), so equal-aspect panels leave no empty bands."""
    w, h = fig.get_size_inches()
    for ax in axes:
        ax.apply_aspect()
    top = max(ax.get_position().y1 for ax in axes)
    bottom = min(ax.get_position().y0 for ax in axes)
    if title:
        fig.suptitle(title, y=top + above_in / h, va="bottom", fontsize=10)
    if below_text:
        fig.text(0.5, bottom - below_in / h, below_text, ha="center", va="top", **text_kw)


def _pair_legend(ax, handles, title):
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=7.5,
                  frameon=False, ncol=1, title=title, title_fontsize=8)
