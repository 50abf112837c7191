"""Cα PDB files and PyMOL / ChimeraX scripts that draw chosen interactions on a structure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


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
    strands = [(a, b) for name, a, b in elements if ss_kind(name) == "strand"]
    for name, a, b in elements:
        if ss_kind(name) == "helix":
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


def relative_path(target, base) -> str:
    return os.path.relpath(Path(target).resolve(), Path(base).resolve().parent).replace(os.sep, "/")


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
    for n, i, j, v, rgb, rad in styled_pairs(pairs, colours2):
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
    beads = involved_beads(pairs, triplets)
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
    for n, i, j, v, rgb, rad in styled_pairs(pairs, colours2):
        out += [f"# 2-body {n}: {labels[i]}-{labels[j]} mean relevance {v:+.4f} kcal/mol",
                f"distance #1/A:{i + 1}@CA #1/A:{j + 1}@CA color {hex_colour(rgb)} radius {rad:.3f} dashes 0 "
                f"decimalPlaces 1"]
    for n, ((i, j, l, v), rgb) in enumerate(zip(triplets, colours3), 1):
        name = f"trip{n}_{labels[i]}_{labels[j]}_{labels[l]}"
        out.append(f"# 3-body {n}: {labels[i]}-{labels[j]}-{labels[l]} mean relevance {v:+.4f} kcal/mol")
        for p, q in ((i, j), (j, l), (l, i)):
            a, b = x[p], x[q]
            out.append(f"shape cylinder fromPoint {a[0]:.3f},{a[1]:.3f},{a[2]:.3f} toPoint "
                       f"{b[0]:.3f},{b[1]:.3f},{b[2]:.3f} radius 0.25 color {hex_colour(rgb)} name {name}")
    beads = involved_beads(pairs, triplets)
    if beads:
        sel = ",".join(str(b + 1) for b in beads)
        out += [f"show #1/A:{sel}@CA atoms", f"style #1/A:{sel}@CA sphere", f"size #1/A:{sel}@CA atomRadius 0.8",
                f"label #1/A:{sel} residues text \"{{0.name}}{{0.number}}\" height 1.2"]
    out += ["view", ""]
    return "\n".join(out)


def styled_pairs(pairs, colours) -> list[tuple]:
    """(n, i, j, value, rgb, radius) of each drawn pair; radius 0.15–0.5 Å by |value| over the strongest."""
    vmax = max([abs(v) for *_, v in pairs] + [0.0])
    return [(n, i, j, v, rgb, 0.15 + 0.35 * abs(v) / vmax if vmax else 0.3)
            for n, ((i, j, v), rgb) in enumerate(zip(pairs, colours), 1)]


def involved_beads(pairs, triplets) -> list[int]:
    """Sorted beads that take part in any drawn interaction."""
    return sorted({b for *idx, _ in [*pairs, *triplets] for b in idx})


def ss_kind(name: str) -> str:
    n = name.lower()
    if n.startswith(("beta", "strand", "sheet", "b")) or n == "e":
        return "strand"
    if n.startswith(("helix", "alpha", "h")):
        return "helix"
    return "coil"


def hex_colour(rgb) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgb)
