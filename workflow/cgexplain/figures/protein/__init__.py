"""NTL9 figures of the paper (Figs. 4, 5, 6, 7 and Supplementary Fig. S11), one per call.

``cgexplain plot-protein FIGURE (--fes fes.npz | --maps maps.npz) --out fig.pdf`` writes ``fig.pdf`` and
``fig.png`` (:func:`cgexplain.figures.style.save`). The inputs are written by :mod:`cgexplain.analysis.protein`:

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
            [--mask-se] [--k 5] [--min-sep 1] [--pml P --cxc C --pdb D] [--label TEXT]
        ``--label`` (which system, e.g. which NTL9) is put before each figure's title.
        A missing or malformed input prints one line on stderr naming the file and returns 2.

Helpers used by the figures and the tests: :func:`split_matrix`, :func:`pair_difference`,
:func:`fig5_matrices`, :func:`strongest_pairs`, :func:`strongest_triplets`, :func:`interaction_colour`,
:func:`write_ca_pdb`, :func:`pymol_script`, :func:`chimerax_script`, :func:`load_fes`, :func:`load_maps`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .fig4 import fig4_fes
from .fig5 import fig5_state_maps
from .fig6 import fig6_strongest
from .fig7 import fig7_mutations
from .panels import load_fes, load_maps
from .s11 import figS11_contacts

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
    ap.add_argument("--label", default="", help="which system the figure shows, put before its title "
                    "(e.g. 'Gō NTL9 (ground truth)')")
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
    if a.label:
        data["label"] = a.label
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
