"""Relevance against the truth (cgexplain.analysis.truth, figures.truth): the statistics are right on known
cases, relevances equal to the true energies give correlation 1 and sign agreement 1 (shuffled ones do not),
the prior's pair part is subtracted, mutations compare ΔR with ΔE, and the two commands write their files.
Small data made here: the Gō model on its native structure and perturbed frames, a tiny mW box."""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from cgexplain.analysis import truth as T
from cgexplain.cli import main as cli
from cgexplain.systems import mw_water as mw
from cgexplain.systems import ntl9_go as go

pytest.importorskip("mdtraj")  # the Gō model reads its structure's DSSP


# ------------------------------------------------------------------------------------ statistics
def test_rankdata_ties_share_the_average_rank():
    assert T.rankdata([3.0, 1.0, 2.0, 1.0]).tolist() == [4.0, 1.5, 3.0, 1.5]
    assert T.rankdata([]).size == 0


def test_pearson_spearman_on_known_cases():
    x = np.arange(10.0)
    assert T.pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert T.pearson(x, -x) == pytest.approx(-1.0)
    assert T.spearman(x, np.exp(x)) == pytest.approx(1.0)       # monotone, not linear
    assert T.pearson(x, np.exp(x)) < 0.9
    assert np.isnan(T.pearson([1.0], [2.0]))
    assert np.isnan(T.pearson(x, np.ones(10)))                  # a constant side
    # reference value: x = 1..5, y = (2, 1, 4, 3, 5): Pearson 0.8, Spearman 0.8
    assert T.pearson([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert T.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    with pytest.raises(ValueError):
        T.pearson([1, 2], [1, 2, 3])


def test_sign_agreement_ignores_negligible_energies():
    r = np.array([1.0, -1.0, 1.0, -5.0])
    e = np.array([2.0, -3.0, -1.0, 1e-6])
    frac, n = T.sign_agreement(r, e, tol=1e-3)
    assert (frac, n) == (pytest.approx(2 / 3), 3)
    assert np.isnan(T.sign_agreement(r, np.zeros(4))[0])


def test_compare_slope_and_nan_rows():
    e = np.array([-2.0, -1.0, 0.5, 3.0, np.nan])
    s = T.compare(0.5 * e + 0.1, e)
    assert s["n"] == 4 and s["pearson"] == pytest.approx(1.0) and s["sign_agreement"] == 1.0
    assert s["slope"] == pytest.approx(0.5) and s["intercept"] == pytest.approx(0.1)
    assert list(T.stats_array(s)) == [s[k] for k in T.STAT_NAMES]


# ------------------------------------------------------------------------------------ Gō protein
@pytest.fixture(scope="module")
def model():
    return go.build_model()


@pytest.fixture(scope="module")
def go_coords(model):
    rng = np.random.default_rng(3)
    x = model.native
    far = x.copy()
    far[30:] += np.array([4.0, -3.0, 2.0])
    return np.stack([x, x + rng.normal(0, 0.25, x.shape), x + rng.normal(0, 0.5, x.shape),
                     far + rng.normal(0, 0.4, x.shape)])


def _shuffled(rel, seed=0):
    rng = np.random.default_rng(seed)
    out = dict(rel)
    out["pair_r"] = rng.permutation(rel["pair_r"])
    out["trip_r"] = -rel["trip_r"][rng.permutation(len(rel["trip_r"]))]
    return out


def test_go_relevance_equal_to_truth_gives_one(model, go_coords):
    rel = T.oracle_relevance(model, go_coords)
    res = T.protein_truth(rel, go_coords, model)
    for key in ("stats_pair", "stats_triplet", "stats_triangle"):
        s = dict(zip(T.STAT_NAMES, res[key]))
        assert s["pearson"] == pytest.approx(1.0) and s["spearman"] == pytest.approx(1.0), key
        assert s["sign_agreement"] == 1.0 and s["slope"] == pytest.approx(1.0), key
    # compared pairs: the non-bonded ones, |i - j| >= 4 (39 beads: 630 pairs)
    assert len(res["pairs"]) == 630 and np.all(res["pairs"][:, 1] - res["pairs"][:, 0] >= 4)
    assert res["trip_triangle"].sum() == len(model.triangles) == 5
    # planted pairs: all 7 called out, positive true energy, VAL3-GLU38 among them
    assert len(res["planted_pairs"]) == 7 and res["pair_planted"].sum() == 7
    assert np.all(res["planted_E"] > 0) and np.allclose(res["planted_R"], res["planted_E"])
    assert [2, 37] in res["planted_pairs"].tolist()
    # shuffled relevances: far from 1
    sh = T.protein_truth(_shuffled(rel), go_coords, model)
    assert abs(sh["stats_pair"][1]) < 0.5 and sh["stats_pair"][3] < 0.9
    assert sh["stats_triangle"][3] == 0.0  # every sign flipped


def test_go_pairs_outside_every_walk_are_left_out_and_bonded_pairs_ignored(model, go_coords):
    rel = T.oracle_relevance(model, go_coords)
    keep = rel["pair_j"] - rel["pair_i"] < 10
    cut = {k: (v[keep] if k.startswith("pair_") else v) for k, v in rel.items()}
    # a bonded pair (i, i+1) with relevance: not compared (no non-bonded truth there)
    cut = {**cut, "pair_frame": np.r_[cut["pair_frame"], 0], "pair_i": np.r_[cut["pair_i"], 0],
           "pair_j": np.r_[cut["pair_j"], 1], "pair_r": np.r_[cut["pair_r"], 5.0],
           "pair_dist": np.r_[cut["pair_dist"], 3.8]}
    res = T.protein_truth(cut, go_coords, model)
    sep = res["pairs"][:, 1] - res["pairs"][:, 0]
    assert sep.min() >= 4 and sep.max() < 10
    assert res["stats_pair"][1] == pytest.approx(1.0)
    assert np.isnan(res["planted_R"]).sum() == sum(j - i >= 10 for i, j in res["planted_pairs"])


class _StubPrior:
    """The pair part of a protein_ca prior: k_rep relu(σ − r)³ on pairs ≥ 3 apart."""

    def __init__(self, n, sigma):
        iu, ju = np.triu_indices(n, 3)
        self.pair_idx = np.stack([iu, ju], 1)
        self.pair_sigma = np.full(len(iu), sigma)
        self.k_rep = 20.0

    def with_types(self, z):
        return self


def test_prior_pair_part_is_subtracted(model, go_coords):
    x = go_coords[2]
    prior = _StubPrior(model.n_beads, 6.0)  # large σ: the prior is active on close pairs
    p0, e0, _, _ = T.frame_truth(model, x)
    p1, e1, _, _ = T.frame_truth(model, x, prior=prior)
    pp, ep = T.prior_pair_energy(prior, x)
    assert ep.max() > 1.0
    net = {tuple(p): e for p, e in zip(p0.tolist(), e0)}
    for p, e in zip(pp.tolist(), ep):
        net[tuple(p)] = net.get(tuple(p), 0.0) - e
    assert {tuple(p) for p in p1.tolist()} == set(net)
    assert np.allclose(e1, [net[tuple(p)] for p in p1.tolist()])
    # the oracle built with the prior gives correlation 1 against U_net, not against U_true
    rel = T.oracle_relevance(model, go_coords, prior=prior)
    assert T.protein_truth(rel, go_coords, model, prior)["stats_pair"][1] == pytest.approx(1.0)
    wrong = T.protein_truth(rel, go_coords, model)
    assert not np.allclose(wrong["pair_R"], wrong["pair_E"]) and wrong["stats_pair"][2] < 0.99
    with pytest.raises(T.InputError):
        T.prior_pair_energy(object(), x)


@pytest.mark.parametrize("mutation", ["ILE4ASN", "LEU30PHE"])
def test_mutation_delta_relevance_against_delta_energy(model, go_coords, mutation):
    rel_wt = T.oracle_relevance(model, go_coords)
    rel_mut = T.oracle_relevance(model.mutate(mutation), go_coords)
    res = T.protein_truth(rel_wt, go_coords, model, mutants={mutation: rel_mut})
    assert res["mutations"].tolist() == [mutation]
    dE, of = res[f"mut_{mutation}_dE"], res[f"mut_{mutation}_of_bead"]
    assert np.all(dE[~of] == 0) and np.abs(dE[of]).max() > 0.01  # only the mutated bead's pairs change
    assert res["stats_mutant"][0][1] == pytest.approx(1.0) and res["stats_mutant"][0][3] == 1.0
    assert res["stats_mutant_bead"][0][1] == pytest.approx(1.0)
    # ΔR of the wild type against itself: zero everywhere, no correlation defined
    same = T.protein_truth(rel_wt, go_coords, model, mutants={mutation: rel_wt})
    assert np.all(same[f"mut_{mutation}_dR"] == 0) and np.isnan(same["stats_mutant"][0][1])
    other = dict(rel_mut, frame_index=rel_mut["frame_index"][::-1])
    with pytest.raises(T.InputError, match="frames"):
        T.protein_truth(rel_wt, go_coords, model, mutants={mutation: other})
    # the mutant file records its --mutate BEAD:RESIDUE (0-based): it must be this mutation's
    bead = int(mutation[3:-3]) - 1
    ok = dict(rel_mut, mutations=np.array([f"{bead}:{mutation[-3:]}"]))
    T.protein_truth(rel_wt, go_coords, model, mutants={mutation: ok})
    wrong = dict(rel_mut, mutations=np.array([f"{bead + 1}:{mutation[-3:]}"]))
    with pytest.raises(T.InputError, match="--mutate"):
        T.protein_truth(rel_wt, go_coords, model, mutants={mutation: wrong})
    with pytest.raises(T.InputError, match="not ALA"):
        T.protein_truth(rel_wt, go_coords, model, mutants={f"ALA{bead + 1}GLY": rel_mut})


# ------------------------------------------------------------------------------------ mW fluid
@pytest.fixture(scope="module")
def mw_case():
    n = 64
    L = mw.box_edge_A(n)
    rng = np.random.default_rng(5)
    coords = np.stack([mw.lattice_positions(n, L, rng, jitter_A=0.45) for _ in range(3)])
    return mw.MWModel(n, L), coords, np.full((3, 3), L)


def test_mw_relevance_equal_to_truth_gives_one(mw_case):
    m, coords, boxes = mw_case
    rel = T.oracle_relevance(m, coords, boxes, cutoff=5.0)
    res = T.fluid_truth(rel, coords, boxes, m, bins=20, angle_bins=12, edge_bins=10)
    for key in ("stats_bin2", "stats_bin3", "stats_row2", "stats_row3"):
        s = dict(zip(T.STAT_NAMES, res[key]))
        assert s["pearson"] == pytest.approx(1.0) and s["sign_agreement"] == 1.0, key
        assert s["n"] >= 5, key
    assert res["bin3_R"].shape == (12, 10)
    # rows in any order (a gathered file): the same result
    perm2, perm3 = np.random.default_rng(1).permutation(len(rel["pair_r"])), np.arange(len(rel["trip_r"]))[::-1]
    mixed = {k: (v[perm2] if k.startswith("pair_") else v[perm3] if k.startswith("trip_") else v) for k, v in rel.items()}
    again = T.fluid_truth(mixed, coords, boxes, m, bins=20, angle_bins=12, edge_bins=10)
    assert np.allclose(again["bin2_R"], res["bin2_R"], equal_nan=True)
    assert np.allclose(again["bin3_E"], res["bin3_E"], equal_nan=True)
    sh = T.fluid_truth(_shuffled(rel), coords, boxes, m, bins=20, angle_bins=12, edge_bins=10)
    assert abs(sh["stats_row2"][1]) < 0.3 and sh["stats_bin2"][1] < 0.9
    assert sh["stats_row3"][3] < 0.1 and sh["stats_bin3"][1] < 0.5


def test_mw_relevance_rows_without_a_true_term_count_zero(mw_case):
    """Pairs the walks visit beyond the mW cutoff (4.3 Å) carry zero true energy; a truth pair no walk
    visits counts relevance 0 in its bin."""
    m, coords, boxes = mw_case
    rel = T.oracle_relevance(m, coords, boxes, cutoff=6.0)
    x, L = coords[0], boxes[0, 0]
    d = x[None] - x[:, None]
    d -= L * np.round(d / L)
    r = np.linalg.norm(d, axis=-1)
    i, j = np.nonzero(np.triu((r > 4.4) & (r < 6.0), 1))
    extra = {"pair_frame": np.zeros(len(i), np.int64), "pair_i": i, "pair_j": j, "pair_r": np.full(len(i), 0.0),
             "pair_dist": r[i, j]}
    rel2 = dict(rel)
    for k, v in extra.items():
        rel2[k] = np.r_[rel[k], v]
    res = T.fluid_truth(rel2, coords, boxes, m, bins=12)
    outer = 0.5 * (res["r_edges"][1:] + res["r_edges"][:-1]) > 4.4
    assert np.all(res["bin2_E"][outer & (res["bin2_count"] > 0)] == 0)
    assert res["stats_bin2"][1] == pytest.approx(1.0)
    drop = dict(rel)
    drop["pair_r"] = np.where(np.arange(len(rel["pair_r"])) % 2 == 0, rel["pair_r"], 0.0)
    res = T.fluid_truth(drop, coords, boxes, m, bins=12)
    assert int(res["stats_row2"][0]) == len(rel["pair_r"])  # no truth row lost


# ------------------------------------------------------------------------------------ the commands
def test_truth_and_plot_truth_commands(tmp_path, model, go_coords, mw_case):
    from cgexplain.data.dataset import write_dataset

    F = len(go_coords)
    write_dataset(tmp_path / "go.npz", coords=go_coords, forces=np.zeros_like(go_coords), box=np.zeros((F, 3)),
                  z=model.z, masses=np.full(model.n_beads, 100.0), train_idx=np.arange(F), val_idx=[0],
                  periodic=False, bonds=model.bonds)
    rel = T.oracle_relevance(model, go_coords[[1, 3]], frames=None)
    rel["frame_index"] = np.array([1, 3])
    np.savez(tmp_path / "rel.npz", **rel)
    mut = T.oracle_relevance(model.mutate("ILE4ASN"), go_coords[[1, 3]])
    mut["frame_index"] = np.array([1, 3])
    np.savez(tmp_path / "mut.npz", **mut)
    rc = cli(["truth", "--relevance", str(tmp_path / "rel.npz"), "--dataset", str(tmp_path / "go.npz"),
              "--system", "ntl9_go", "--params", json.dumps({"sequence": model.sequence}),
              "--mutant", f"ILE4ASN={tmp_path / 'mut.npz'}", "--out", str(tmp_path / "t.npz"),
              "--csv", str(tmp_path / "t.csv")])
    assert rc == 0
    with np.load(tmp_path / "t.npz") as d:
        assert d["stats_pair"][1] == pytest.approx(1.0, abs=1e-6) and int(d["n_frames"]) == 2
        assert d["stats_mutant"][0][1] == pytest.approx(1.0, abs=1e-6)
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].startswith("table,i,j,k,residues")
    assert any(ln.startswith("pair,3,38,,VAL3-GLU38") and ln.endswith("planted") for ln in lines)
    assert sum(ln.startswith("triplet") for ln in lines) == 5
    assert any(ln.startswith("mutant:ILE4ASN") for ln in lines)
    assert cli(["plot-truth", "--truth", str(tmp_path / "t.npz"), "--out", str(tmp_path / "fig" / "go.pdf"),
                "--title", "Gō NTL9 – oracle"]) == 0
    assert (tmp_path / "fig" / "go.pdf").stat().st_size > 0 and (tmp_path / "fig" / "go.png").stat().st_size > 0

    m, coords, boxes = mw_case
    write_dataset(tmp_path / "mw.npz", coords=coords, forces=np.zeros_like(coords), box=boxes, z=np.full(m.n, 8),
                  masses=np.full(m.n, mw.MASS_AMU), train_idx=np.arange(3), val_idx=[0])
    np.savez(tmp_path / "relmw.npz", **T.oracle_relevance(m, coords, boxes, cutoff=5.0))
    assert cli(["truth", "--relevance", str(tmp_path / "relmw.npz"), "--dataset", str(tmp_path / "mw.npz"),
                "--system", "mw_water", "--bins", "20", "--angle-bins", "12", "--edge-bins", "10",
                "--out", str(tmp_path / "tmw.npz"), "--csv", str(tmp_path / "tmw.csv")]) == 0
    with np.load(tmp_path / "tmw.npz") as d:
        assert d["stats_bin2"][1] == pytest.approx(1.0, abs=1e-5) and d["stats_bin3"][1] == pytest.approx(1.0, abs=1e-5)
    rows = (tmp_path / "tmw.csv").read_text().splitlines()
    assert any(r.startswith("bin2,") for r in rows) and any(r.startswith("bin3,") for r in rows)
    assert cli(["plot-truth", "--truth", str(tmp_path / "tmw.npz"), "--out", str(tmp_path / "fig" / "mw.pdf")]) == 0
    assert (tmp_path / "fig" / "mw.png").exists()


def test_the_truth_of_a_system_comes_from_its_module(model):
    """System.truth_model decides which systems have a truth (no fixed list): the Gō NTL9 and mW water do,
    the all-atom systems do not, and a dotted path of a module of one's own works the same way."""
    from cgexplain.systems import get_system, has_truth

    assert has_truth(get_system("ntl9_go")) and has_truth(get_system("mw_water"))
    assert not any(has_truth(get_system(s)) for s in ("ntl9", "methane", "water"))
    assert get_system("ntl9").truth_model({"sequence": model.sequence}) is None
    m = T.truth_model("ntl9_go", {"sequence": model.sequence}, model.n_beads)
    assert m.n_beads == model.n_beads and np.allclose(m.contact_eps, model.contact_eps)
    assert T.truth_model("cgexplain.systems.ntl9_go", {"sequence": model.sequence}).n_beads == model.n_beads
    with pytest.raises(T.InputError, match="39 beads, the frames 12"):
        T.truth_model("ntl9_go", {"sequence": model.sequence}, 12)
    w = T.truth_model("mw_water", {"md": {"n_molecules": 64}})
    assert w.n == 64 and w.box_edge_A == pytest.approx(mw.box_edge_A(64))
    with pytest.raises(T.InputError, match="unknown system"):
        T.truth_model("argon")


def test_truth_command_errors_in_one_line(tmp_path, capsys):
    rc = cli(["truth", "--relevance", str(tmp_path / "none.npz"), "--dataset", str(tmp_path / "none.npz"),
              "--system", "ntl9_go", "--out", str(tmp_path / "t.npz"), "--csv", str(tmp_path / "t.csv")])
    assert rc != 0
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(T.InputError, match="no ground truth"):
        T.truth_model("water")


def test_truth_command_subtracts_a_fitted_protein_ca_prior(tmp_path, model, go_coords):
    """A real prior file (fitted on the two calm frames): on the torn frame its repulsion is active, and the
    command compares the relevance with U_true − U_prior,pair."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from cgexplain.data.dataset import write_dataset
    from cgexplain.priors.base import fit_prior, read_prior_file, write_prior_file

    F = len(go_coords)
    data = {"coords": go_coords.astype(np.float32), "z": model.z, "train_idx": np.array([0, 1]), "bonds": model.bonds}
    write_prior_file(tmp_path / "prior.pt", fit_prior("protein_ca", data, {}, 350.0), {})
    prior = read_prior_file(tmp_path / "prior.pt")
    assert T.prior_pair_energy(prior, go_coords[3])[1].max() > 0.01  # active off the training frames
    write_dataset(tmp_path / "go.npz", coords=go_coords, forces=np.zeros_like(go_coords), box=np.zeros((F, 3)),
                  z=model.z, masses=np.full(model.n_beads, 100.0), train_idx=np.arange(F), val_idx=[0],
                  periodic=False, bonds=model.bonds)
    coords32 = go_coords.astype(np.float32).astype(np.float64)
    np.savez(tmp_path / "rel.npz", **T.oracle_relevance(model, coords32, prior=prior))
    args = ["truth", "--relevance", str(tmp_path / "rel.npz"), "--dataset", str(tmp_path / "go.npz"),
            "--system", "ntl9_go", "--csv", str(tmp_path / "t.csv")]
    assert cli(args + ["--prior", str(tmp_path / "prior.pt"), "--out", str(tmp_path / "with.npz")]) == 0
    assert cli(args + ["--out", str(tmp_path / "without.npz")]) == 0
    with np.load(tmp_path / "with.npz") as w, np.load(tmp_path / "without.npz") as wo:
        assert np.allclose(w["pair_R"], w["pair_E"], atol=1e-9) and str(w["prior"]).endswith("prior.pt")
        assert not np.allclose(wo["pair_R"], wo["pair_E"], atol=1e-3)


class _RetypedPrior(_StubPrior):
    """A prior whose re-typed copy (``with_types``) is far more repulsive, as a fitted prior can be."""

    def with_types(self, z):
        return _StubPrior(len(z), 9.0)


def test_mutant_delta_energy_holds_the_prior_at_the_wild_type(model, go_coords):
    prior = _RetypedPrior(model.n_beads, 6.0)
    mutant = model.mutate("ILE4ASN")
    rel_wt = T.oracle_relevance(model, go_coords, prior=prior)
    rel_mut = T.oracle_relevance(mutant, go_coords, prior=prior)
    res = T.protein_truth(rel_wt, go_coords, model, prior, mutants={"ILE4ASN": rel_mut})
    dE, of = res["mut_ILE4ASN_dE"], res["mut_ILE4ASN_of_bead"]
    # ΔE is the truth's own change: the WT prior's pair part cancels, the re-typed prior plays no part
    plain = T.protein_truth(T.oracle_relevance(model, go_coords), go_coords, model,
                            mutants={"ILE4ASN": T.oracle_relevance(mutant, go_coords)})
    ref = dict(zip(map(tuple, plain["mut_ILE4ASN_pairs"].tolist()), plain["mut_ILE4ASN_dE"]))
    got = dict(zip(map(tuple, res["mut_ILE4ASN_pairs"].tolist()), dE))
    for p, e in got.items():
        assert e == pytest.approx(ref.get(p, 0.0), abs=1e-9)
    assert np.all(dE[~of] == 0) and np.abs(dE).max() < 10.0
