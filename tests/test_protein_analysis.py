"""Relevance on a protein: per-pair maps equal direct sums over walks, mutations change only that bead
and act locally, and a state with no frames gives an empty (not a broken) relevance file and NaN maps."""

import numpy as np
import pytest
import torch
from cgexplain.analysis.protein import pair_maps, triplet_means
from cgexplain.core.residues import chain_bonds, parse_mutation, sequence_types, type_names
from cgexplain.data.dataset import write_dataset
from cgexplain.nn.models import CGPotential, ModelConfig, save_potential
from cgexplain.relevance import run as rel_cli
from cgexplain.relevance.engine import walk_relevance

SEQ = "MKVIFLKDVKGMGKKGEI"


def chain(n, rng, noise=0.1):
    k = np.arange(n)
    helix = np.stack([2.3 * np.cos(np.radians(100) * k), 2.3 * np.sin(np.radians(100) * k), 1.5 * k], 1)
    return helix + rng.normal(scale=noise, size=(n, 3))


@pytest.fixture(scope="module")
def small_protein(tmp_path_factory):
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("prot")
    z = sequence_types(SEQ)
    pot = CGPotential(ModelConfig("painn", cutoff=6.0, n_atom_basis=8, n_interactions=2, n_rbf=6), z)
    with torch.no_grad():  # non-trivial weights
        for q in pot.parameters():
            q.add_(0.3 * torch.randn_like(q))
    save_potential(tmp / "model.pt", pot)
    rng = np.random.default_rng(1)
    X = np.stack([chain(len(SEQ), rng) for _ in range(4)]).astype(np.float32)
    write_dataset(tmp / "ds.npz", coords=X, forces=np.zeros_like(X), box=np.zeros((4, 3)), z=z,
                  masses=np.full(len(SEQ), 13.0), train_idx=[0, 1, 2], val_idx=[3], periodic=False,
                  temperature_K=350.0, bonds=chain_bonds(len(SEQ)))
    np.savez(tmp / "states.npz", sample_F=np.array([0, 2]), sample_P1=np.array([], dtype=np.int64))
    return tmp, pot.double(), X


def run_relevance(tmp, out, *extra):
    return rel_cli.main_relevance(["--model", str(tmp / "model.pt"), "--dataset", str(tmp / "ds.npz"),
                                   "--out", str(out), "--device", "cpu", *extra])


def test_pair_map_equals_direct_sum_over_walks(small_protein):
    tmp, pot, X = small_protein
    assert run_relevance(tmp, tmp / "F.npz", "--frames-npz", str(tmp / "states.npz"), "--frames-key", "sample_F") == 0
    with np.load(tmp / "F.npz") as d:
        rel = {k: d[k] for k in d.files}
    assert rel["frame_index"].tolist() == [0, 2]
    mean, se = pair_maps(rel, len(SEQ))
    direct = np.zeros((2, len(SEQ), len(SEQ)))
    for f, idx in enumerate([0, 2]):
        res = walk_relevance(pot, torch.as_tensor(X[idx], dtype=torch.float64), None)
        for w, r in zip(res.walks, res.relevance):
            nodes = sorted(set(w.tolist()))
            if len(nodes) == 2:
                direct[f, nodes[0], nodes[1]] += r
    expect = direct.mean(0)
    iu = np.triu_indices(len(SEQ), 1)
    seen = np.isfinite(mean[iu])
    np.testing.assert_allclose(mean[iu][seen], expect[iu][seen], rtol=1e-9, atol=1e-12)
    assert np.all(expect[iu][~seen] == 0)  # pairs no walk visits carry nothing
    np.testing.assert_allclose(mean, mean.T, equal_nan=True)
    assert np.all(se[iu][seen] >= 0)
    # the 3-body means read the same file: a triplet's mean equals its summed relevance / frames
    t = np.array([[rel["trip_i"][0], rel["trip_j"][0], rel["trip_k"][0]]])
    sel = (rel["trip_i"] == t[0, 0]) & (rel["trip_j"] == t[0, 1]) & (rel["trip_k"] == t[0, 2])
    assert triplet_means(rel, t)[0] == pytest.approx(rel["trip_r"][sel].sum() / 2)


def test_empty_state_gives_an_empty_file_and_nan_maps(small_protein):
    tmp, _, _ = small_protein
    out = tmp / "P1.npz"
    assert run_relevance(tmp, out, "--frames-npz", str(tmp / "states.npz"), "--frames-key", "sample_P1") == 0
    with np.load(out) as d:
        rel = {k: d[k] for k in d.files}
    assert len(rel["energy"]) == 0 and len(rel["pair_r"]) == 0
    mean, se = pair_maps(rel, len(SEQ))
    assert np.isnan(mean).all() and np.isnan(se).all()


def test_mutation_changes_one_bead_and_acts_locally(small_protein):
    tmp, pot, X = small_protein
    bead, res = parse_mutation("ILE4ASN", type_names(sequence_types(SEQ)))
    assert (bead, res) == (3, "ASN")
    with pytest.raises(ValueError, match="residue 4 is ILE, not LEU"):
        parse_mutation("LEU4ASN", type_names(sequence_types(SEQ)))
    wt, mut = tmp / "wt.npz", tmp / "mut.npz"
    args = ["--frames-npz", str(tmp / "states.npz"), "--frames-key", "sample_F"]
    assert run_relevance(tmp, wt, *args) == 0 and run_relevance(tmp, mut, *args, "--mutate", "3:ASN") == 0
    maps = []
    for path in (wt, mut):
        with np.load(path) as d:
            maps.append(pair_maps({k: d[k] for k in d.files}, len(SEQ))[0])
    delta = np.abs(np.nan_to_num(maps[1]) - np.nan_to_num(maps[0]))
    iu = np.triu_indices(len(SEQ), 1)
    touching = (iu[0] == 3) | (iu[1] == 3)
    d3 = np.linalg.norm(X[0] - X[0][3], axis=1)  # distance of every bead from the mutated one (Å)
    far = (d3[iu[0]] > 6.0) & (d3[iu[1]] > 6.0) & np.isfinite(maps[0][iu])
    assert far.sum() > 5 and delta[iu][touching].mean() > 0
    assert delta[iu][touching].mean() > delta[iu][far].mean()
    with pytest.raises(SystemExit):
        rel_cli.main_relevance(["--model", "x"])  # argparse: missing required options
    assert run_relevance(tmp, tmp / "bad.npz", *args, "--mutate", "30:ASN") == 2  # bead out of range


def test_most_stabilising_pairs_and_the_secondary_structure_blocks():
    from cgexplain.analysis.protein import most_stabilising_in_blocks

    m = np.full((12, 12), np.nan)
    m[0, 10], m[1, 3], m[2, 8], m[5, 11], m[4, 9] = -3.0, -9.0, -2.0, -1.0, 0.5  # (1, 3) too close, (4, 9) > 0
    m = np.where(np.isnan(m), m.T, m)
    pairs, inside = most_stabilising_in_blocks(m, [[0, 2], [8, 10]], k=3)
    assert pairs.tolist() == [[0, 10], [2, 8], [5, 11]]      # most negative first, |i - j| >= 4 only
    assert inside.tolist() == [True, True, False]             # 5 and 11 lie in no element
    assert most_stabilising_in_blocks(m, [[0, 2]], k=20)[0].shape == (3, 2)
