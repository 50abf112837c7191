"""NTL9 from all-atom MD to a prior-regularised CG model and its simulation (tiny, real data).

One short implicit-solvent run of the shipped folded structure is mapped to Cα beads; the protein
prior is fitted to it; PaiNN is trained on F_ref − F_prior (delta learning) and the model file carries
the prior; a batched CG run from k-centre starts keeps every bond in a sane range.
"""

import numpy as np
import pytest
import torch
from cgexplain.core.residues import sequence_types
from cgexplain.data.dataset import load_dataset
from cgexplain.nn.models import load_potential
from cgexplain.priors import prior_energy_forces, read_prior_file
from cgexplain.reference.mapping import map_trajectory
from cgexplain.reference.reference_md import run_reference_md
from cgexplain.data.dataset import load_trajectory
from cgexplain.simulate import simulate
from cgexplain.train import fit_prior_file, train
from conftest import REPO

SEQ = "MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA"


@pytest.fixture(scope="module")
def ntl9_dataset(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ntl9")
    block = {"temperature_K": 350.0, "sequence": SEQ,
             "data": {"route": "openmm", "structure": str(REPO / "resources" / "ntl9" / "ntl9_folded.pdb")},
             "md": {"friction_per_ps": 1.0, "platform": "CPU", "checkpoint_interval_ps": 1.0,
                    "report_interval_ps": 1.0, "temperature_band": [0.5, 2.0], "implicit_solvent": "obc2", "nonbonded_cutoff_nm": 1.0,
                    "timestep_fs": 2.0, "save_interval_ps": 0.02, "equilibration_ps": 0.1, "production_ps": 0.6,
                    "n_folded": 1, "n_unfolded": 0}}
    traj = tmp / "replica_0.h5"
    run_reference_md("ntl9", block, traj, seed=5, threads=2)
    ds = tmp / "dataset.npz"
    map_trajectory("ntl9", [traj], ds, 0.2, 0)
    return tmp, ds


def test_mapped_dataset_is_a_calpha_chain(ntl9_dataset):
    _, ds = ntl9_dataset
    d = load_dataset(ds)
    assert d["coords"].shape == (30, 39, 3) and not bool(d["periodic"])
    assert d["z"].tolist() == sequence_types(SEQ).tolist()
    assert float(d["temperature_K"]) == 350.0 and d["bonds"].shape == (38, 2)
    b = np.linalg.norm(d["coords"][:, 1:] - d["coords"][:, :-1], axis=-1)
    assert 3.7 < b.mean() < 3.9 and b.max() < 4.2  # trans peptide Cα–Cα: 3.8 Å
    np.testing.assert_allclose(d["masses"][d["z"] == 6], 14.026, atol=1e-3)  # GLY: Cα + 2 H


def test_prior_delta_learning_and_cg_run_keep_bonds_sane(ntl9_dataset):
    tmp, ds = ntl9_dataset
    rows = fit_prior_file(ds, {"kind": "protein_ca", "k_rep": 20.0}, tmp / "prior.pt", tmp / "prior.csv")
    assert {r["term"] for r in rows} == {"bond", "angle", "dihedral", "repulsion"}
    prior = read_prior_file(tmp / "prior.pt")
    d = load_dataset(ds)
    X = torch.as_tensor(d["coords"], dtype=torch.float64)
    _, fp = prior_energy_forces(prior.double(), X, None)
    # the prior carries part of the mapped force: the residual the network learns is smaller
    f_ref = torch.as_tensor(d["forces"], dtype=torch.float64)
    assert float(((f_ref - fp) ** 2).mean()) < float((f_ref ** 2).mean())

    hp = {"cutoff_A": 8.0, "n_atom_basis": 8, "n_interactions": 2, "n_rbf": 6}
    p = {"batch_size": 8, "accumulate_grad_batches": 1, "lr": 1e-3, "weight_decay": 0.0, "lr_factor": 0.5,
         "lr_patience": 5, "lr_cooldown": 0, "min_lr": 1e-6, "ema_decay": 0.5, "max_epochs": 2,
         "early_stopping_patience": 5, "seed": 0}
    model = tmp / "model.pt"
    train(ds, "painn", hp, p, model, device="cpu", threads=2, prior_path=tmp / "prior.pt")
    pot = load_potential(model, dtype=torch.float64)
    assert pot.prior is not None and pot.prior.kind == "protein_ca"
    # the model file's energy is U_net + U_prior, and the prior part equals the fitted prior
    x = X[:2]
    e_total, _ = pot(x, None)
    e_prior, _ = prior_energy_forces(pot.prior, x, None)
    e_net = pot.net(pot.inputs(x, None))["energy"].reshape(-1)
    torch.testing.assert_close(e_total, e_net + e_prior)
    torch.testing.assert_close(e_prior, prior_energy_forces(prior.double(), x, None)[0])

    # a mutation (ILE4ASN: bead 3's type) on the folded frame with this trained model: pairs that touch the
    # mutated residue change more, on average, than pairs far from it
    from cgexplain.analysis.protein import pair_maps
    from cgexplain.relevance.aggregate import aggregate_frame
    from cgexplain.relevance.engine import walk_relevance

    frame = X[0]
    maps = []
    for z3 in (int(pot.z[3]), 12):  # 12 = ASN
        pot.z[3] = z3
        r = walk_relevance(pot, frame, None)
        agg = aggregate_frame(r.walks, r.relevance, frame.numpy(), None, 39)
        rel = {"energy": np.zeros(1), "pair_frame": np.zeros(len(agg["pair_r"]), int), **agg}
        maps.append(np.nan_to_num(pair_maps(rel, 39)[0]))
    pot.z[3] = int(sequence_types(SEQ)[3])
    delta = np.abs(maps[1] - maps[0])
    iu = np.triu_indices(39, 1)
    d3 = np.linalg.norm(frame.numpy() - frame.numpy()[3], axis=1)
    touching = (iu[0] == 3) | (iu[1] == 3)
    far = (d3[iu[0]] > 12.0) & (d3[iu[1]] > 12.0)
    assert delta[iu][touching].mean() > 2 * delta[iu][far].mean()

    out = tmp / "cgsim.npz"
    sim = {"n_replicas": 4, "timestep_fs": 2.0, "friction_per_ps": 1.0, "temperature_K": 350.0, "n_steps": 1000,
           "save_interval": 50, "checkpoint_interval": 500, "save_forces": False, "seed": 3}
    simulate(model, ds, sim, out, device="cpu", threads=2, system="ntl9")
    t = load_trajectory(out)
    assert t["coords"].shape == (4, 20, 39, 3) and not bool(t["periodic"])
    starts = t["coords"][:, 0]
    assert len({tuple(np.round(s[0], 3)) for s in starts}) == 4  # k-centre starts: four different frames
    bonds = np.linalg.norm(t["coords"][..., 1:, :] - t["coords"][..., :-1, :], axis=-1)
    assert 3.0 < bonds.min() and bonds.max() < 4.6, (bonds.min(), bonds.max())
    assert abs(bonds.mean() - 3.8) < 0.1
