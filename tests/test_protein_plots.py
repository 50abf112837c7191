"""NTL9 figures 4, 5, 6, 7 and S11 render from synthetic fes/maps inputs (PDF + PNG), also with states
that were never visited; Fig. 6's PyMOL/ChimeraX/PDB files name exactly the strongest interactions;
the SE mask blanks insignificant differences; bad input files give exit code 2 and one line."""

from __future__ import annotations

import re

import numpy as np
from cgexplain.figures import protein as pp
from cgexplain.figures.protein.fig5 import _fig5_figure, fig5_matrices, pair_difference
from cgexplain.figures.protein.fig6 import strongest_pairs, strongest_triplets
from cgexplain.figures.protein.panels import STATES, interaction_colour

SEQ = ("MET LYS VAL ILE PHE LEU LYS ASP VAL LYS GLY MET GLY LYS LYS GLY GLU ILE LYS ASN VAL ALA ASP GLY "
       "TYR ALA ASN ASN PHE LEU PHE LYS GLN GLY LEU ALA ILE GLU ALA").split()
N = len(SEQ)
ELEMENTS = {"beta1": (1, 4), "beta2": (17, 19), "beta3": (35, 37), "helix": (22, 32)}


def helix_coords(n=N):
    t = np.arange(n)
    return np.stack([2.3 * np.cos(np.deg2rad(100) * t), 2.3 * np.sin(np.deg2rad(100) * t), 1.5 * t], 1)


def make_maps(seed=0, unvisited=()):
    rng = np.random.default_rng(seed)
    x = helix_coords()
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    F = -np.exp(-((d - 6.0) ** 2) / 8.0) + 0.05 * rng.normal(size=(N, N))
    F = np.triu(F, 1)
    F[2, 37] = 1.5                                   # VAL3-GLU38 destabilising, among the strongest
    F = F + F.T
    np.fill_diagonal(F, np.nan)
    U = np.triu(0.3 * rng.normal(size=(N, N)), 1)
    U = U + U.T
    P1, P2 = F.copy(), F.copy()
    (a0, a1), (b0, b1) = ELEMENTS["beta1"], ELEMENTS["beta2"]
    P1[a0:a1 + 1, b0:b1 + 1] += 0.6
    P1[b0:b1 + 1, a0:a1 + 1] += 0.6
    h0, h1 = ELEMENTS["helix"]
    P2[h0:h1 + 1, h0:h1 + 1] += 0.4
    mean2 = np.stack([F, U, P1, P2])
    se = rng.uniform(0.02, 0.25, size=(N, N))
    se2 = np.stack([np.triu(se, 1) + np.triu(se, 1).T] * 4)
    contact = np.stack([np.clip(1.2 - d / 10, 0, 1)] * 4)
    trip = np.array(sorted({tuple(sorted(rng.choice(N, 3, replace=False))) for _ in range(300)}))
    mean3 = 0.1 * rng.normal(size=(4, len(trip)))
    mutations = np.array(["LEU30PHE", "ILE4ASN"])
    mut_index = np.array([29, 3])
    mut2 = np.stack([F.copy(), F.copy()])
    for m, i in enumerate(mut_index):
        mut2[m, i, :] += 0.3 * (m + 1)
        mut2[m, :, i] += 0.3 * (m + 1)
    n_frames = np.array([100, 80, 60, 40])
    prior = np.array([[10.0, 20.0, -3.0, 0.5]] * 4)
    maps = dict(states=np.array(STATES), n_frames=n_frames, mean2=mean2, se2=se2, contact_freq=contact,
                trip_idx=trip, mean3=mean3, mutations=mutations, mut_index=mut_index, mut_mean2=mut2,
                mut_se2=np.stack([se2[0]] * 2), mut_mean3=np.stack([mean3[0]] * 2),
                elements_names=np.array(list(ELEMENTS)), elements_ranges=np.array(list(ELEMENTS.values())),
                bead_names=np.array(SEQ), folded_coords=x, prior_terms=prior,
                prior_term_names=np.array(["bond", "angle", "dihedral", "repulsion"]), model=np.asarray("painn"))
    for s in unvisited:
        k = STATES.index(s)
        n_frames[k] = 0
        for key in ("mean2", "se2", "contact_freq", "mean3", "prior_terms"):
            maps[key][k] = np.nan
    return maps


def make_fes(seed=0, unvisited=()):
    rng = np.random.default_rng(seed)
    centres = {"F": (-1.5, 0.0), "U": (1.5, 0.0), "P1": (0.0, 1.2), "P2": (0.0, -1.2), "other": (0.0, 0.0)}

    def sample(n, shift):
        pts, lab = [], []
        for s, c in centres.items():
            if s in unvisited:
                continue
            pts.append(rng.normal(c, 0.35, size=(n, 2)) + shift)
            lab += [s] * n
        return np.concatenate(pts), np.array(lab, dtype="<U5")

    aa, la = sample(400, 0.0)
    cg, lc = sample(300, 0.1)
    ex, ey = np.linspace(-3, 3, 41), np.linspace(-2.5, 2.5, 36)

    def fe(p):
        H = np.histogram2d(p[:, 0], p[:, 1], bins=[ex, ey])[0]
        with np.errstate(divide="ignore"):
            f = -0.6 * np.log(H / H.sum())
        f[~np.isfinite(f)] = np.nan
        return f - np.nanmin(f)

    rep = np.stack([helix_coords() + rng.normal(0, 1.0 * k, size=(N, 3)) for k in range(4)])
    found = np.array([s not in unvisited for s in STATES])
    rep[~found] = np.nan
    return dict(aa_proj=aa, cg_proj=cg, edges_x=ex, edges_y=ey, fes_aa=fe(aa), fes_cg=fe(cg), aa_states=la,
                cg_states=lc, state_names=np.array(STATES), rep_coords=rep, rep_found=found,
                bead_names=np.array(SEQ, dtype="<U3"), model=np.asarray("painn"))


def _written(out):
    for suffix in (".pdf", ".png"):
        p = out.with_suffix(suffix)
        assert p.exists() and p.stat().st_size > 1000, p


def _draw(tmp_path, fes, maps, tag, names=("fig4", "fig5", "fig6", "fig7", "s11")):
    d = tmp_path / tag
    outs = {name: d / f"{name}.pdf" for name in names}
    draw = {"fig4": lambda o: pp.fig4_fes(fes, o),
            "fig5": lambda o: pp.fig5_state_maps(maps, o, mask_se=True),
            "fig6": lambda o: pp.fig6_strongest(maps, o, d / "fig6.pml", d / "fig6.cxc", d / "fig6.pdb", k=5),
            "fig7": lambda o: pp.fig7_mutations(maps, o, k=5),
            "s11": lambda o: pp.figS11_contacts(maps, o)}
    for name, out in outs.items():
        draw[name](out)
        _written(out)


def test_all_figures_write_pdf_and_png(tmp_path):
    _draw(tmp_path, make_fes(), make_maps(), "full")


def test_unvisited_states_give_figures(tmp_path):
    # P1 never visited: the figures that show P1 (Figs. 6 and 7 use F and the mutants only)
    _draw(tmp_path, make_fes(unvisited=("P1",)), make_maps(unvisited=("P1",)), "no_p1", ("fig4", "fig5", "s11"))
    maps = make_maps(unvisited=("F", "P2"))
    out = tmp_path / "no_f"
    pp.fig6_strongest(maps, out / "fig6.pdf", out / "a.pml", out / "a.cxc", out / "a.pdb")
    pp.fig7_mutations(maps, out / "fig7.pdf")
    pp.fig5_state_maps(maps, out / "fig5.pdf")
    for name in ("fig6", "fig7", "fig5"):
        _written(out / f"{name}.pdf")
    Ma, Mb, notes = fig5_matrices(maps)
    assert np.isnan(Ma[np.triu_indices(N, 1)]).all() and np.isnan(Mb).all()
    assert notes["a_upper"] == "F not visited (0 frames)" and notes["a_lower"] is None


def _top_pairs(m, k):
    i, j = np.triu_indices(len(m), 1)
    v = m[i, j]
    order = np.argsort(-np.abs(np.where(np.isfinite(v), v, 0)))[:k]
    return {(int(i[o]) + 1, int(j[o]) + 1): float(v[o]) for o in order}


def test_fig6_scripts_name_the_strongest_interactions(tmp_path):
    maps = make_maps()
    k = 5
    pml, cxc, pdb = tmp_path / "s" / "fig6.pml", tmp_path / "s" / "fig6.cxc", tmp_path / "p" / "ca.pdb"
    pp.fig6_strongest(maps, tmp_path / "fig6.pdf", pml, cxc, pdb, k=k)
    want = _top_pairs(maps["mean2"][0], k)
    assert (3, 38) in want and want[(3, 38)] > 0
    assert any(v < 0 for v in want.values())

    text = pml.read_text()
    assert "load ../p/ca.pdb, protein" in text                       # relative to the script's folder
    colours = {m[0]: tuple(map(float, m[1:])) for m in
               re.findall(r"set_color (\S+), \[([\d.]+), ([\d.]+), ([\d.]+)\]", text)}
    drawn = {}
    for name, i, j in re.findall(r"^distance (\S+), protein and resi (\d+) and name CA, protein and resi (\d+) and name CA",
                                 text, re.M):
        col = re.search(rf"^color (\S+), {re.escape(name)}$", text, re.M).group(1)
        drawn[(int(i), int(j))] = colours[col]
    assert set(drawn) == set(want)
    for pair, (r, g, b) in drawn.items():
        assert (b > r) if want[pair] < 0 else (r > b), (pair, want[pair], (r, g, b))
    top3 = np.argsort(-np.abs(maps["mean3"][0]))[:k]
    want3 = {tuple(int(t) + 1 for t in maps["trip_idx"][o]) for o in top3}
    got3 = {tuple(int(x) for x in m) for m in re.findall(r"'trip\d+_[A-Z]+(\d+)_[A-Z]+(\d+)_[A-Z]+(\d+)'", text)}
    assert got3 == want3

    text = cxc.read_text()
    assert "open ../p/ca.pdb" in text
    hexes = re.findall(r"^distance #1/A:(\d+)@CA #1/A:(\d+)@CA color #([0-9a-f]{6})", text, re.M)
    assert {(int(i), int(j)) for i, j, _ in hexes} == set(want)
    for i, j, h in hexes:
        r, b = int(h[:2], 16), int(h[4:], 16)
        assert (b > r) if want[(int(i), int(j))] < 0 else (r > b)
    assert len(re.findall(r"^shape cylinder fromPoint", text, re.M)) == 3 * k

    atoms = [ln for ln in pdb.read_text().splitlines() if ln.startswith("ATOM")]
    assert len(atoms) == N
    assert [ln[12:16] for ln in atoms] == [" CA "] * N
    assert [ln[17:20] for ln in atoms] == SEQ
    assert [int(ln[22:26]) for ln in atoms] == list(range(1, N + 1))
    xyz = np.array([[float(ln[30:38]), float(ln[38:46]), float(ln[46:54])] for ln in atoms])
    np.testing.assert_allclose(xyz, maps["folded_coords"], atol=1e-3)
    import mdtraj as md  # a pinned dependency: its absence is a failure, not a skip

    t = md.load(str(pdb))
    assert t.n_atoms == N and [r.name for r in t.topology.residues] == SEQ
    np.testing.assert_allclose(t.xyz[0] * 10, maps["folded_coords"], atol=1e-3)


def test_mask_se_blanks_insignificant_differences():
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    b = np.array([[0.0, 0.5], [0.5, 0.0]])
    se = np.full((2, 2), 0.2)                     # 2 * sqrt(0.04 + 0.04) = 0.566 > 0.5 -> blank
    assert np.isnan(pair_difference(a, b, se, se, mask_se=True)[0, 1])
    assert pair_difference(a, b, se, se, mask_se=False)[0, 1] == 0.5
    se_small = np.full((2, 2), 0.1)               # 0.283 < 0.5 -> kept
    assert pair_difference(a, b, se_small, se_small, mask_se=True)[0, 1] == 0.5
    assert np.isnan(pair_difference(a, b, np.full((2, 2), np.nan), se_small, mask_se=True)[0, 1])

    maps = make_maps()
    Ma, Mb, _ = fig5_matrices(maps, mask_se=True)
    F, P1, P2 = maps["mean2"][0], maps["mean2"][2], maps["mean2"][3]
    se = maps["se2"]
    iu, il = np.triu_indices(N, 1), np.tril_indices(N, -1)
    for (tri, S, k) in ((iu, P1, 2), (il, P2, 3)):
        d = (S - F)[tri]
        sig = np.abs(d) > 2 * np.sqrt(se[k][tri] ** 2 + se[0][tri] ** 2)
        assert sig.any() and (~sig).any()
        np.testing.assert_array_equal(np.isnan(Mb[tri]), ~sig)
        np.testing.assert_allclose(Mb[tri][sig], d[sig])
    np.testing.assert_allclose(Ma[iu], F[iu])
    np.testing.assert_allclose(Ma[il], maps["mean2"][1][il])
    assert np.isnan(np.diag(Mb)).all()
    _, Mb_all, _ = fig5_matrices(maps, mask_se=False)
    assert np.isfinite(Mb_all[iu]).all()

    fig = _fig5_figure(maps, mask_se=True)     # the panel-b mesh holds exactly the masked matrix
    plotted = fig.axes[1].collections[0].get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(plotted).reshape(N, N), np.isnan(Mb))
    np.testing.assert_allclose(np.ma.filled(plotted, np.nan).reshape(N, N), Mb)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_strongest_helpers_and_colours():
    m = np.zeros((5, 5))
    m[0, 4] = m[4, 0] = -2.0
    m[1, 2] = m[2, 1] = 1.0
    m[0, 1] = m[1, 0] = np.nan
    assert strongest_pairs(m, 2) == [(0, 4, -2.0), (1, 2, 1.0)]
    far = strongest_pairs(m, 10, min_sep=2)
    assert far[0] == (0, 4, -2.0) and all(j - i >= 2 for i, j, _ in far) and len(far) == 6
    assert strongest_triplets(np.array([[0, 1, 2], [1, 2, 3], [0, 2, 4]]), np.array([0.1, np.nan, -0.3]), 5) == [
        (0, 2, 4, -0.3), (0, 1, 2, 0.1)]
    r, g, b = interaction_colour(-1.0, 1.0)
    assert b > r
    r, g, b = interaction_colour(0.5, 1.0)
    assert r > b


def test_main_reports_bad_input_in_one_line(tmp_path, capsys):
    missing = tmp_path / "nope" / "maps.npz"
    assert pp.main(["fig5", "--maps", str(missing), "--out", str(tmp_path / "f.pdf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0]

    bad = tmp_path / "bad.npz"
    np.savez(bad, states=np.array(STATES))
    assert pp.main(["s11", "--maps", str(bad), "--out", str(tmp_path / "f.pdf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]

    junk = tmp_path / "junk.npz"
    junk.write_text("not an npz")
    assert pp.main(["fig4", "--fes", str(junk), "--out", str(tmp_path / "f.pdf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(junk) in err[0]

    assert pp.main(["fig4", "--out", str(tmp_path / "f.pdf")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1

    good = tmp_path / "maps.npz"
    np.savez(good, **make_maps())
    out = tmp_path / "cli" / "fig6.pdf"
    assert pp.main(["fig6", "--maps", str(good), "--k", "3", "--out", str(out)]) == 0
    _written(out)
    assert len(re.findall(r"^distance ", (tmp_path / "cli" / "fig6.pml").read_text(), re.M)) == 3
    assert (tmp_path / "cli" / "fig6_structure.pdb").exists()
