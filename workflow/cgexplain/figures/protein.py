"""NTL9 figures of the paper (Figs. 4, 5, 6, 7 and Supplementary Fig. S11), one per call.

``cgexplain plot-protein FIGURE (--fes fes.npz | --maps maps.npz) --out fig.pdf`` writes ``fig.pdf`` and
``fig.png`` (:func:`cgexplain.figures.fluid.save`). The inputs are written by :mod:`cgexplain.analysis.protein`:

* ``fes.npz`` (``cgexplain fes``): ``aa_proj`` (Fa, 2) / ``cg_proj`` (Fc, 2) TICA projections,
  ``edges_x`` (nx+1,), ``edges_y`` (ny+1,), ``fes_aa`` / ``fes_cg`` (nx, ny) free energy in kcal/mol (min 0,
  NaN in empty bins), ``aa_states`` / ``cg_states`` per-frame labels (F, U, P1, P2, other),
  ``state_names``, ``rep_coords`` (4, N, 3) Å with ``rep_found`` (4,), ``bead_names`` (N,), ``model``.
  Optional ``elements_names`` / ``elements_ranges`` colour the structures by secondary structure.
* ``maps.npz`` (``cgexplain relevance-maps``): ``states``, ``n_frames``, ``mean2`` / ``se2`` (S, N, N) mean
  2-body relevance of U_net (kcal/mol) and its standard error, ``contact_freq`` (S, N, N), ``trip_idx``
  (T, 3), ``mean3`` (S, T), ``mutations``, ``mut_index``, ``mut_mean2`` / ``mut_se2`` (M, N, N),
  ``mut_mean3`` (M, T), ``elements_names`` / ``elements_ranges`` (inclusive 0-based bead ranges),
  ``bead_names``, ``folded_coords`` (N, 3) Å, ``prior_terms`` (S, 4) with ``prior_term_names``, ``model``.

Conventions: negative relevance = stabilising = blue, positive = destabilising = red (``RdBu_r``,
centred at 0, symmetric limits at the 99th percentile of |value| so that a few bonded pairs do not wash
out the map; the colour bar is extended when values are clipped). Residue axes are numbered 1..N and
labelled with residue name + number ("MET1"), row 1 at the top, so the upper triangle (i < j) is the
upper right half of a map as in the paper. Gray cells have no value (pair never seen, empty state,
diagonal, or blanked by ``mask_se``). The prior (bond, angle, dihedral, repulsion) is an exact 2-, 3-
and 4-body energy; its mean per state is reported beside the relevance maps, never added to them.

Figures (each writes ``out`` with suffix .pdf and .png)::

    fig4_fes(fes, out)
        AA (left) and CG (right) free-energy surface on one colour scale (kcal/mol). The state regions
        (the smoothed 2D histogram contour holding 90% of that state's AA frames; the CG frames when the
        AA has none; convex hull below 20 frames) are outlined and labelled on both panels, each panel's
        legend gives the state populations; the four representative structures (Cα trace projected on its
        principal axes, N→C rainbow or secondary structure colours) are drawn on the left. A state without
        frames / representative says "not visited".
    fig5_state_maps(maps, out, mask_se=False)
        a: mean2[F] upper / mean2[U] lower; b: mean2[P1] − mean2[F] upper / mean2[P2] − mean2[F] lower.
        Secondary-structure blocks (β1×β2, β1×β3, helix×helix) outlined in black; β-strands as arrows and
        the helix as a wave along the top and right axes. With ``mask_se``, pairs whose difference is
        within 2 sqrt(se_a² + se_b²) are blanked (:func:`fig5_matrices`). An empty state's triangle says
        "not visited (0 frames)". A text box lists the prior's mean term energies per state.
    fig6_strongest(maps, out, pml_out, cxc_out, pdb_out, k=5, min_sep=1)
        The k strongest 2-body pairs (|mean2[F]|, i < j, j - i >= min_sep) and the k strongest triplets
        (|mean3[F]|) on the folded structure, blue/red shaded and sized by strength; writes a Cα PDB
        (with HELIX/SHEET records from the elements) and PyMOL / ChimeraX scripts drawing the same
        interactions (paths relative to the scripts' folder).
    fig7_mutations(maps, out, k=5)
        a: mut_mean2 − mean2[F] for mutations[0] (upper) and mutations[1] (lower); b, c: the folded
        structure with the mutated residue in gray and the k most changed pairs (|Δ|).
    figS11_contacts(maps, out)
        For F, P1 and P2: contact frequency (0..1) next to the mean 2-body relevance map.
    main(argv) -> int
        cgexplain plot-protein {fig4,fig5,fig6,fig7,s11} --fes F.npz | --maps M.npz --out X.pdf
            [--mask-se] [--k 5] [--min-sep 1] [--pml P --cxc C --pdb D]
        A missing or malformed input prints one line on stderr naming the file and returns 2.

Helpers used by the figures and the tests: :func:`split_matrix`, :func:`pair_difference`,
:func:`fig5_matrices`, :func:`strongest_pairs`, :func:`strongest_triplets`, :func:`interaction_colour`,
:func:`write_ca_pdb`, :func:`pymol_script`, :func:`chimerax_script`, :func:`load_fes`, :func:`load_maps`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from ..analysis.folding import PAIRINGS

STATES = ("F", "U", "P1", "P2")
STATE_COLOURS = {"F": "#ff3b30", "U": "#ffa500", "P1": "#ff40ff", "P2": "#00e5ff"}
SS_COLOURS = {"strand": "#d99a00", "helix": "#2ca02c", "coil": "0.6"}
DIVERGING = "RdBu_r"           # the cmap of cgexplain.figures.relevance._diverging_mesh
CONTACT_CMAP = "YlGnBu"
NAN_COLOUR = "0.86"
RELEVANCE_LABEL = "2-body relevance (kcal/mol)"

FES_KEYS = ("aa_proj", "cg_proj", "edges_x", "edges_y", "fes_aa", "fes_cg", "aa_states", "cg_states",
            "rep_coords", "rep_found", "bead_names")
MAPS_KEYS = ("states", "n_frames", "mean2", "se2", "contact_freq", "trip_idx", "mean3", "bead_names",
             "folded_coords")


# ------------------------------------------------------------------------------------------- io
def _plt():
    from .relevance import _plt as lrp_plt  # Agg backend + the seaborn theme of every relevance figure

    return lrp_plt()


def _save(fig, out) -> None:
    from .fluid import save

    save(fig, out)


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


# ------------------------------------------------------------------------------------ helpers
def _str(x, default="") -> str:
    if x is None:
        return default
    a = np.asarray(x)
    return str(a.item() if a.ndim == 0 else a)


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


def _ss_kind(name: str) -> str:
    n = name.lower()
    if n.startswith(("beta", "strand", "sheet", "b")) or n == "e":
        return "strand"
    if n.startswith(("helix", "alpha", "h")):
        return "helix"
    return "coil"


def _ss_label(name: str) -> str:
    kind, digits = _ss_kind(name), "".join(c for c in name if c.isdigit())
    return {"strand": "β", "helix": "α"}.get(kind, name) + digits if kind != "coil" else name


def ss_per_bead(elements, n: int) -> list[str]:
    kinds = ["coil"] * n
    for name, a, b in elements:
        for i in range(max(a, 0), min(b, n - 1) + 1):
            kinds[i] = _ss_kind(name)
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


def interaction_colour(value: float, vmax: float) -> tuple[float, float, float]:
    """RGB of an interaction: Blues for negative (stabilising), Reds for positive, darker when stronger."""
    from matplotlib import colormaps

    s = min(1.0, abs(value) / vmax) if vmax > 0 else 1.0
    rgba = colormaps["Blues" if value < 0 else "Reds"](0.45 + 0.55 * s)
    return tuple(float(c) for c in rgba[:3])


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgb)


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


# --------------------------------------------------------------------------------- drawing
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
    ax.set_facecolor(NAN_COLOUR)


def _heat(ax, M, cmap, vmin, vmax):
    n = len(M)
    e = np.arange(n + 1) + 0.5
    return ax.pcolormesh(e, e, np.ma.masked_invalid(M), cmap=cmap, vmin=vmin, vmax=vmax, shading="flat",
                         rasterized=True)


def diverging_map(fig, ax, M, lim=None, label=RELEVANCE_LABEL):
    """Residue-pair map on a colour scale symmetric about 0 (blue negative, red positive) with colour bar.

    Same colour convention as :func:`cgexplain.figures.relevance._diverging_mesh`, on residue axes, with a
    given (shared) limit; returns the QuadMesh."""
    clipped = False
    if lim is None:
        lim, clipped = symmetric_limit(M)
    else:
        fin = np.abs(M[np.isfinite(M)])
        clipped = bool(fin.size and fin.max() > lim * (1 + 1e-9))
    mesh = _heat(ax, M, DIVERGING, -lim, lim)
    cb = fig.colorbar(mesh, ax=ax, fraction=0.04, pad=0.07, extend="both" if clipped else "neither")
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return mesh


def _ss_tracks(ax, elements, n: int) -> None:
    """β-strands as arrows and helices as waves along the top (x) and right (y) edges of a map."""
    xt, yt = ax.get_xaxis_transform(), ax.get_yaxis_transform()
    pos, amp = 1.022, 0.009
    for name, a, b in elements:
        kind = _ss_kind(name)
        lo, hi = a + 1 - 0.45, b + 1 + 0.45
        col = SS_COLOURS[kind] if kind != "coil" else "0.3"
        if kind == "strand":
            style = dict(arrowstyle="-|>,head_length=0.35,head_width=0.22", lw=2.0, color=col, shrinkA=0,
                         shrinkB=0)
            ax.annotate("", xy=(hi, pos), xytext=(lo, pos), xycoords=xt, textcoords=xt, arrowprops=style,
                        annotation_clip=False)
            ax.annotate("", xy=(pos, hi), xytext=(pos, lo), xycoords=yt, textcoords=yt, arrowprops=style,
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


def _relevance_panel(fig, ax, M, labels, elements, title, upper, lower, notes, lim=None, label=RELEVANCE_LABEL):
    _residue_axes(ax, labels)
    mesh = diverging_map(fig, ax, M, lim=lim, label=label)
    _blocks(ax, elements)
    _ss_tracks(ax, elements, len(labels))
    _triangle_labels(ax, upper, lower, notes)
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold", pad=30, y=1.0)
    return mesh


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
    plt = _plt()
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
    _frame(fig, axes, f"Relevance contact maps{f' ({model})' if model else ''}: negative (blue) = "
           "stabilising, positive (red) = destabilising; black boxes: β1–β2, β1–β3 and helix contacts",
           below_text=_prior_table(maps), family="monospace", fontsize=7.5, multialignment="left",
           bbox=dict(boxstyle="round", fc="0.97", ec="0.6"))
    return fig


def fig5_state_maps(maps: dict, out, mask_se: bool = False) -> None:
    """Fig. 5: a: F (upper) / U (lower) mean 2-body relevance; b: P1 − F (upper) / P2 − F (lower)."""
    _save(_fig5_figure(maps, mask_se), out)


# ------------------------------------------------------------------------------ structures
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
            cols.append(SS_COLOURS[kinds[i]] if kinds[i] == kinds[i + 1] else SS_COLOURS["coil"])
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
    plt = _plt()
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


# --------------------------------------------------------------------------------- Fig. 6
def write_ca_pdb(coords, bead_names, path, elements=(), title: str = "") -> None:
    """Cα-only PDB: atom CA, residue names ``bead_names``, residue numbers 1..N, chain A, plus HELIX/SHEET
    records of the secondary-structure ``elements`` (0-based inclusive ranges)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [str(n).strip().upper()[:3] for n in np.asarray(bead_names).tolist()]
    x = np.asarray(coords, dtype=np.float64)
    lines = []
    if title:
        lines.append(f"REMARK   1 {title}"[:80])
    nh = ns = 0
    strands = [(a, b) for name, a, b in elements if _ss_kind(name) == "strand"]
    for name, a, b in elements:
        if _ss_kind(name) == "helix":
            nh += 1
            lines.append(f"HELIX  {nh:3d} {nh:>3d} {names[a]:>3s} A {a + 1:4d}  {names[b]:>3s} A {b + 1:4d}  1"
                         + " " * 31 + f"{b - a + 1:5d}")
    for a, b in strands:
        ns += 1
        lines.append(f"SHEET  {ns:3d}   A{len(strands):2d} {names[a]:>3s} A{a + 1:4d}  {names[b]:>3s} A{b + 1:4d}"
                     f"  0")
    for i, (nm, p) in enumerate(zip(names, x)):
        lines.append(f"ATOM  {i + 1:5d}  CA  {nm:>3s} A{i + 1:4d}    {p[0]:8.3f}{p[1]:8.3f}{p[2]:8.3f}"
                     f"{1.0:6.2f}{0.0:6.2f}           C")
    lines += [f"TER   {len(names) + 1:5d}      {names[-1]:>3s} A{len(names):4d}", "END"]
    path.write_text("\n".join(lines) + "\n")


def _rel(target, base) -> str:
    return os.path.relpath(Path(target).resolve(), Path(base).resolve().parent).replace(os.sep, "/")


def _styled_pairs(pairs, colours) -> list[tuple]:
    """(n, i, j, value, rgb, radius) of each drawn pair; radius 0.15–0.5 Å by |value| over the strongest."""
    vmax = max([abs(v) for *_, v in pairs] + [0.0])
    return [(n, i, j, v, rgb, 0.15 + 0.35 * abs(v) / vmax if vmax else 0.3)
            for n, ((i, j, v), rgb) in enumerate(zip(pairs, colours), 1)]


def _involved(pairs, triplets) -> list[int]:
    """Sorted beads that take part in any drawn interaction."""
    return sorted({b for *idx, _ in [*pairs, *triplets] for b in idx})


def _script_header(tool: str, model: str, path_note: str) -> list[str]:
    return [f"# {tool} script written by cgexplain.figures.protein.fig6_strongest{f' ({model})' if model else ''}",
            "# strongest 2- and 3-body interactions of U_net in the folded state F;",
            "# blue = stabilising (negative relevance), red = destabilising (positive), darker = stronger.",
            f"# {path_note}"]


def pymol_script(pdb_rel: str, labels, coords, pairs, triplets, colours2, colours3, model: str = "") -> str:
    """PyMOL commands: load the Cα PDB, cartoon trace, one distance object per pair (solid, coloured),
    one CGO triangle (+ edges) per triplet. ``pairs`` (i, j, v), ``triplets`` (i, j, l, v), 0-based."""
    x = np.asarray(coords, dtype=np.float64)
    obj = "protein"
    out = _script_header("PyMOL", model, "Paths are relative to this script's folder: cd there, then "
                                         "`pymol <this file>`.") + [
           f"load {pdb_rel}, {obj}",
           f"hide everything, {obj}",
           "set cartoon_trace_atoms, 1",
           "set ribbon_trace_atoms, 1",
           f"show cartoon, {obj}",
           f"color grey80, {obj}",
           "set dash_gap, 0",
           "set dash_round_ends, 1",
           "set two_sided_lighting, 1",
           "set label_size, 18",
           "bg_color white"]
    for n, i, j, v, rgb, rad in _styled_pairs(pairs, colours2):
        name = f"pair{n}_{labels[i]}_{labels[j]}"
        out += [f"# 2-body {n}: {labels[i]}-{labels[j]} mean relevance {v:+.4f} kcal/mol",
                f"set_color col2_{n}, [{rgb[0]:.4f}, {rgb[1]:.4f}, {rgb[2]:.4f}]",
                f"distance {name}, {obj} and resi {i + 1} and name CA, {obj} and resi {j + 1} and name CA",
                f"color col2_{n}, {name}",
                f"set dash_radius, {rad:.3f}, {name}",
                f"hide labels, {name}"]
    if triplets:
        out += ["python", "from pymol import cmd",
                "from pymol.cgo import ALPHA, BEGIN, TRIANGLES, COLOR, NORMAL, VERTEX, END, CYLINDER"]
        for n, ((i, j, l, v), rgb) in enumerate(zip(triplets, colours3), 1):
            a, b, c = x[i], x[j], x[l]
            nrm = np.cross(b - a, c - a)
            nrm = nrm / (np.linalg.norm(nrm) + 1e-12)
            r, g, bl = rgb
            f = lambda p: f"{p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}"  # noqa: E731
            edges = "".join(f"CYLINDER, {f(p)}, {f(q)}, 0.15, {r:.4f}, {g:.4f}, {bl:.4f}, {r:.4f}, {g:.4f}, "
                            f"{bl:.4f}, " for p, q in ((a, b), (b, c), (c, a)))
            out += [f"# 3-body {n}: {labels[i]}-{labels[j]}-{labels[l]} mean relevance {v:+.4f} kcal/mol",
                    f"cmd.load_cgo([ALPHA, 0.6, BEGIN, TRIANGLES, COLOR, {r:.4f}, {g:.4f}, {bl:.4f}, "
                    f"NORMAL, {f(nrm)}, VERTEX, {f(a)}, VERTEX, {f(b)}, VERTEX, {f(c)}, END, ALPHA, 1.0, "
                    f"{edges}], 'trip{n}_{labels[i]}_{labels[j]}_{labels[l]}')"]
        out.append("python end")
    beads = _involved(pairs, triplets)
    if beads:
        sel = "+".join(str(b + 1) for b in beads)
        out += [f"show spheres, {obj} and name CA and resi {sel}", "set sphere_scale, 0.5",
                f"label {obj} and name CA and resi {sel}, \"%s%s\" % (resn, resi)"]
    out += ["orient " + obj, ""]
    return "\n".join(out)


def chimerax_script(pdb_rel: str, labels, coords, pairs, triplets, colours2, colours3, model: str = "") -> str:
    """ChimeraX commands: open the Cα PDB, cartoon, one solid distance per pair, three cylinders
    (``shape cylinder``) per triplet, coloured as in the figure. ChimeraX runs a .cxc from its folder."""
    x = np.asarray(coords, dtype=np.float64)
    out = _script_header("ChimeraX", model, "Paths are relative to this script's folder (ChimeraX opens .cxc "
                                            "files from there).") + [
           f"open {pdb_rel}",
           "hide #1 atoms",
           "cartoon #1",
           "color #1 lightgray",
           "set bgColor white"]
    for n, i, j, v, rgb, rad in _styled_pairs(pairs, colours2):
        out += [f"# 2-body {n}: {labels[i]}-{labels[j]} mean relevance {v:+.4f} kcal/mol",
                f"distance #1/A:{i + 1}@CA #1/A:{j + 1}@CA color {_hex(rgb)} radius {rad:.3f} dashes 0 "
                f"decimalPlaces 1"]
    for n, ((i, j, l, v), rgb) in enumerate(zip(triplets, colours3), 1):
        name = f"trip{n}_{labels[i]}_{labels[j]}_{labels[l]}"
        out.append(f"# 3-body {n}: {labels[i]}-{labels[j]}-{labels[l]} mean relevance {v:+.4f} kcal/mol")
        for p, q in ((i, j), (j, l), (l, i)):
            a, b = x[p], x[q]
            out.append(f"shape cylinder fromPoint {a[0]:.3f},{a[1]:.3f},{a[2]:.3f} toPoint "
                       f"{b[0]:.3f},{b[1]:.3f},{b[2]:.3f} radius 0.25 color {_hex(rgb)} name {name}")
    beads = _involved(pairs, triplets)
    if beads:
        sel = ",".join(str(b + 1) for b in beads)
        out += [f"show #1/A:{sel}@CA atoms", f"style #1/A:{sel}@CA sphere", f"size #1/A:{sel}@CA atomRadius 0.8",
                f"label #1/A:{sel} residues text \"{{0.name}}{{0.number}}\" height 1.2"]
    out += ["view", ""]
    return "\n".join(out)


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
        text = writer(_rel(pdb_out, path), labels, coords, pairs, trips, col2, col3, model)
        if status:
            text = f"# state F {status}: no interactions drawn\n" + text
        path.write_text(text)
    if status:
        _save(_message_figure(f"Folded state F {status}:\nno interactions to draw.",
                              "Fig. 6 – strongest interactions in F"), out)
        return
    plt = _plt()
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
    ss_handles = [Line2D([], [], color=SS_COLOURS[s], lw=2.6, label=s) for s in ("strand", "helix", "coil")]
    axes[1].add_artist(axes[1].legend(handles=ss_handles, loc="upper right", fontsize=7, frameon=False,
                                      title="Cα trace", title_fontsize=7))
    _pair_legend(axes[1], handles, "mean 3-body relevance (kcal/mol)")
    _frame(fig, axes, f"Folded protein{f' ({model})' if model else ''}, Cα trace on its principal axes: blue = "
           "stabilising, red = destabilising, darker/thicker = stronger", above_in=0.4)
    _save(fig, out)


# --------------------------------------------------------------------------------- Fig. 7
def fig7_mutations(maps: dict, out, k: int = 5) -> None:
    """Fig. 7: a: mutant − wild-type (state F) 2-body relevance, first mutation upper, second lower;
    b, c: the folded structure, mutated residue in gray, the ``k`` most changed pairs."""
    status = state_status(maps, "F")
    muts = [str(m) for m in np.asarray(maps.get("mutations", [])).tolist()][:2]
    if status:
        _save(_message_figure(f"Folded state F {status}:\nno mutation effect to show.", "Fig. 7 – mutations"), out)
        return
    if not muts or "mut_mean2" not in maps:
        _save(_message_figure("No mutations in the maps file.", "Fig. 7 – mutations"), out)
        return
    plt = _plt()
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
    fig.suptitle(f"Effect of mutations{f' ({model})' if model else ''}: red = higher relevance in the mutant "
                 "(destabilised), blue = lower (stabilised)", fontsize=10)
    _save(fig, out)


# ------------------------------------------------------------------------------- Fig. S11
def figS11_contacts(maps: dict, out) -> None:
    """Supplementary Fig. S11: contact frequency (Cα–Cα < 8 Å) next to the mean 2-body relevance, for F,
    P1 and P2 (full symmetric maps, relevance on one shared colour scale)."""
    plt = _plt()
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
        mesh = _heat(row[0], C, CONTACT_CMAP, 0.0, 1.0)
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
    _frame(fig, axes.ravel(), "Contact frequency vs mean 2-body relevance per state (relevance: blue = "
           "stabilising, red = destabilising)")
    _save(fig, out)


# --------------------------------------------------------------------------------- Fig. 4
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
    plt = _plt()
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
        im = ax.pcolormesh(ex, ey, np.ma.masked_invalid(F.T), cmap="viridis", vmin=0.0, vmax=vmax,
                           shading="flat", rasterized=True)
        ax.set_facecolor("white")
        handles = []
        for s in STATES:
            r, src = regions[s]
            n = int((lab == s).sum())
            if r is not None:
                _draw_region(ax, r, STATE_COLOURS[s], s)
            txt = f"{s}: {100 * n / max(1, len(lab)):.1f}% ({n} frames)" if n else f"{s}: not visited"
            if r is not None and src != "AA":
                txt += " [region from CG frames]"
            handles.append(Line2D([], [], color=STATE_COLOURS[s], lw=2.5, label=txt))
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
                     bbox=dict(boxstyle="round,pad=0.2", fc=STATE_COLOURS[s], ec="k", lw=0.6))
    note = ("structures: Cα trace on its principal axes, " +
            ("β-strands gold, helix green" if elements else "coloured N (blue) → C (red)"))
    fig.text(0.02, 0.02, note, fontsize=7.5, color="0.3")
    fig.suptitle("Free energy surface on the first two TICA components: AA reference (left) vs CG (right); "
                 "regions hold 90% of each state's AA frames", fontsize=10.5)
    _save(fig, out)


# ------------------------------------------------------------------------------------ CLI
FIGURES = ("fig4", "fig5", "fig6", "fig7", "s11")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain plot-protein", description="Draw one protein figure (4, 5, 6, 7, S11).")
    ap.add_argument("figure", choices=FIGURES)
    ap.add_argument("--fes", type=Path, help="fes.npz (fig4)")
    ap.add_argument("--maps", type=Path, help="maps.npz (fig5, fig6, fig7, s11)")
    ap.add_argument("--out", required=True, type=Path, help="figure path; .pdf and .png are written")
    ap.add_argument("--mask-se", action="store_true", help="fig5: blank differences within 2 standard errors")
    ap.add_argument("--k", type=int, default=5, help="fig6/fig7: number of interactions drawn")
    ap.add_argument("--min-sep", type=int, default=1, help="fig6: smallest sequence separation j - i of a pair")
    ap.add_argument("--pml", type=Path, help="fig6: PyMOL script (default: OUT.pml)")
    ap.add_argument("--cxc", type=Path, help="fig6: ChimeraX script (default: OUT.cxc)")
    ap.add_argument("--pdb", type=Path, help="fig6: Cα PDB the scripts load (default: OUT_structure.pdb)")
    a = ap.parse_args(argv)
    prog = "cgexplain plot-protein"
    need = "fes" if a.figure == "fig4" else "maps"
    path = getattr(a, need)
    if path is None:
        print(f"{prog} {a.figure}: needs --{need} FILE.npz", file=sys.stderr)
        return 2
    try:
        data = load_fes(path) if need == "fes" else load_maps(path)
    except (OSError, ValueError) as e:
        print(f"{prog} {a.figure}: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    out = a.out
    if a.figure == "fig4":
        fig4_fes(data, out)
    elif a.figure == "fig5":
        fig5_state_maps(data, out, mask_se=a.mask_se)
    elif a.figure == "fig6":
        fig6_strongest(data, out, a.pml or out.with_suffix(".pml"), a.cxc or out.with_suffix(".cxc"),
                       a.pdb or out.with_name(out.stem + "_structure.pdb"), k=a.k, min_sep=a.min_sep)
    elif a.figure == "fig7":
        fig7_mutations(data, out, k=a.k)
    else:
        figS11_contacts(data, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
