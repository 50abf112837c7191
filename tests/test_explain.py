"""`cgexplain explain`: SchNetPack's own models, saved as SchNetPack saves them, explained on trajectories
written by mdtraj and ASE, against the project's internal path (its CGPotential and walk engine)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import cgexplain.core.compat  # noqa: F401  (schnetpack under torch 2.13)
import numpy as np
import pytest
import schnetpack as spk
import torch
import torch.nn.functional as F
from cgexplain.core.errors import InputError
from cgexplain.explain import explain, main
from cgexplain.nn.models import CGPotential, ModelConfig
from cgexplain.relevance.aggregate import aggregate_frame
from cgexplain.relevance.engine import walk_relevance

REPO = Path(__file__).resolve().parents[1]
N, BOX, CUT, FEAT, NRBF = 12, 9.0, 4.0, 8, 6


def spk_net(arch="painn", activation=None, rbf=None, cutoff_fn=None, post=(), head=None, seed=0):
    """A SchNetPack NeuralNetworkPotential built with SchNetPack's own classes, as a SchNetPack user would
    (energy head, forces output, a cast postprocessor), weights perturbed away from SchNetPack's zeros."""
    torch.manual_seed(seed)
    rbf = rbf or spk.nn.GaussianRBF(n_rbf=NRBF, cutoff=CUT)
    fcut = cutoff_fn or spk.nn.CosineCutoff(CUT)
    kw = {} if activation is None else {"activation": activation}
    if arch == "painn":
        rep = spk.representation.PaiNN(n_atom_basis=FEAT, n_interactions=2, radial_basis=rbf, cutoff_fn=fcut, **kw)
    elif arch == "so3net":
        rep = spk.representation.SO3net(n_atom_basis=FEAT, n_interactions=2, lmax=2, radial_basis=rbf, cutoff_fn=fcut)
    else:
        rep = spk.representation.SchNet(n_atom_basis=FEAT, n_interactions=2, radial_basis=rbf, cutoff_fn=fcut, **kw)
    net = spk.model.NeuralNetworkPotential(
        representation=rep, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[head or spk.atomistic.Atomwise(n_in=FEAT, output_key="energy"),
                        spk.atomistic.Forces(energy_key="energy", force_key="forces")],
        postprocessors=[spk.transform.CastTo64(), *post])
    for p in net.parameters():
        p.data += 0.05 * torch.randn_like(p)
    return net


def save_like_schnetpack(net, path: Path) -> Path:
    """SchNetPack's AtomisticTask.save_model: the whole module, torch.save'd (its best_model file)."""
    torch.save(net, path)
    return path


def frames(n_frames=3, seed=0):
    """Jittered lattice frames (Å) of N beads in a BOX cube, nearest neighbours ~3 Å apart."""
    rng = np.random.default_rng(seed)
    g = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)[:N] * 3.0
    return np.stack([g + rng.normal(0, 0.3, (N, 3)) for _ in range(n_frames)])


def write_xtc(tmp: Path, xyz_A: np.ndarray, box_A=BOX, angles=90.0) -> tuple[Path, Path]:
    import mdtraj as md

    top = md.Topology()
    chain = top.add_chain()
    for _ in range(N):
        top.add_atom("OW", md.element.oxygen, top.add_residue("SOL", chain))
    F_ = len(xyz_A)
    t = md.Trajectory(xyz_A / 10.0, top, unitcell_lengths=np.full((F_, 3), box_A / 10.0),
                      unitcell_angles=np.full((F_, 3), angles))
    t.save_xtc(str(tmp / "traj.xtc"))
    t[0].save_pdb(str(tmp / "beads.pdb"))
    return tmp / "traj.xtc", tmp / "beads.pdb"


def internal(net, arch, z, pos, box):
    """The project's internal path: its CGPotential of the same hyper-parameters, the SchNetPack weights
    copied in, the fast walk engine."""
    cfg = ModelConfig(arch, cutoff=CUT, n_atom_basis=FEAT, n_interactions=2, n_rbf=NRBF, lmax=2)
    pot = CGPotential(cfg, z).double()
    pot.net.representation.load_state_dict(net.representation.state_dict())
    pot.net.output_modules[0].load_state_dict(net.output_modules[0].state_dict())
    b = None if box is None else torch.tensor(box, dtype=torch.float64)
    return walk_relevance(pot, torch.tensor(pos, dtype=torch.float64), b, 0.1)


def rel_diff(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("arch", ["painn", "so3net"])
def test_schnetpack_model_from_xtc_equals_internal_path(tmp_path, arch):
    import mdtraj as md

    net = spk_net(arch)
    model = save_like_schnetpack(net, tmp_path / "best_model")
    xtc, pdb = write_xtc(tmp_path, frames(3))
    res = explain(model, xtc, tmp_path / "rel.npz", top=pdb, walks=True, progress=False)
    pos = md.load(str(xtc), top=str(pdb)).xyz.astype(np.float64) * 10.0  # what the XTC holds (its precision)
    z = np.full(N, 8)
    assert np.array_equal(res["z"], z) and str(res["model_kind"]) == "schnetpack" and str(res["arch"]) == arch
    for f in range(3):
        ref = internal(net, arch, z, pos[f], [BOX] * 3)
        w = res["walk_frame"] == f
        assert np.array_equal(res["walk_nodes"][w], ref.walks)
        assert rel_diff(res["walk_r"][w], ref.relevance) <= 1e-10
        agg = aggregate_frame(ref.walks, ref.relevance, pos[f], np.array([BOX] * 3), N)
        p, t = res["pair_frame"] == f, res["trip_frame"] == f
        assert np.array_equal(res["pair_i"][p], agg["pair_i"]) and np.array_equal(res["trip_k"][t], agg["trip_k"])
        assert rel_diff(res["pair_r"][p], agg["pair_r"]) <= 1e-10
        assert rel_diff(res["trip_r"][t], agg["trip_r"]) <= 1e-10
        assert np.allclose(res["trip_theta"][t], agg["trip_theta"]) and np.allclose(res["pair_dist"][p], agg["pair_dist"])
        # the energy is the SchNetPack model's own, evaluated by SchNetPack
        spk_e = net.double()(CGPotential(ModelConfig(arch, cutoff=CUT), z).inputs(
            torch.tensor(pos[f:f + 1]), torch.tensor([BOX] * 3, dtype=torch.float64)))["energy"]
        assert res["energy"][f] == pytest.approx(float(spk_e.detach()), rel=1e-10)


def test_walks_and_beads_sum_to_the_stored_relevance(tmp_path):
    xtc, pdb = write_xtc(tmp_path, frames(2, seed=3))
    res = explain(save_like_schnetpack(spk_net("painn", seed=2), tmp_path / "m"), xtc, tmp_path / "r.npz",
                  top=pdb, walks=True, progress=False)
    for f in range(2):
        total = res["total"][f]
        assert abs(total) > 1e-3
        assert res["walk_r"][res["walk_frame"] == f].sum() == pytest.approx(total, rel=1e-12)
        assert res["bead_total"][f].sum() == pytest.approx(total, rel=1e-12)
        assert res["order_totals"][f].sum() == pytest.approx(total, rel=1e-12)
        # a bead's total differs from its 1-body relevance: many-body walks are shared out
        assert not np.allclose(res["bead_total"][f], res["r1"][f])


def test_open_boundaries_from_extxyz_and_types_flag(tmp_path):
    import ase
    import ase.io

    pos = frames(2, seed=5)
    ase.io.write(tmp_path / "traj.extxyz", [ase.Atoms(numbers=[1] * N, positions=p) for p in pos])
    net = spk_net("schnet", seed=4)
    model = save_like_schnetpack(net, tmp_path / "m")
    z = np.full(N, 6)
    res = explain(model, tmp_path / "traj.extxyz", tmp_path / "r.npz", types="6", frames="1", progress=False)
    assert np.array_equal(res["frame_index"], [1]) and np.array_equal(res["z"], z)
    ref = internal_schnet(net, z, pos[1])
    assert res["total"][0] == pytest.approx(ref, rel=1e-10)
    assert np.allclose(res["box"], 0.0)


def internal_schnet(net, z, pos):
    cfg = ModelConfig("schnet", cutoff=CUT, n_atom_basis=FEAT, n_interactions=2, n_rbf=NRBF)
    pot = CGPotential(cfg, z).double()
    pot.net.representation.load_state_dict(net.representation.state_dict())
    pot.net.output_modules[0].load_state_dict(net.output_modules[0].state_dict())
    return float(walk_relevance(pot, torch.tensor(pos, dtype=torch.float64), None, 0.1).relevance.sum())


@pytest.mark.parametrize("make, module, words", [
    (lambda: spk_net("painn", activation=F.tanh), "representation.interactions.0.interatomic_context_net.0",
     "activation tanh"),
    (lambda: spk_net("painn", rbf=spk.nn.BesselRBF(NRBF, CUT)), "representation.radial_basis", "BesselRBF"),
    (lambda: spk_net("schnet", cutoff_fn=spk.nn.MollifierCutoff(CUT)), "representation.cutoff_fn", "MollifierCutoff"),
    (lambda: spk_net("painn", head=spk.atomistic.Atomwise(FEAT, output_key="energy", activation=spk.nn.shifted_softplus)),
     "output_modules.0.outnet.0", "activation shifted_softplus"),
    (lambda: spk_net("painn", head=spk.atomistic.Atomwise(FEAT, output_key="energy", aggregation_mode="avg")),
     "output_modules.0", "aggregates with 'avg'"),
    (lambda: spk_net("so3net", post=[spk.transform.ScaleProperty("energy", scale=torch.tensor([0.5]))]),
     "postprocessors.1", "ScaleProperty, which changes the energy beyond per-bead offsets"),
])
def test_unsupported_parts_are_refused_naming_the_module(tmp_path, capsys, make, module, words):
    model = save_like_schnetpack(make(), tmp_path / "best_model")
    xtc, pdb = write_xtc(tmp_path, frames(1))
    rc = main(["--model", str(model), "--trajectory", str(xtc), "--top", str(pdb), "--out", str(tmp_path / "r.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith(f"cgexplain explain: error: model file {model}: module '{module}'")
    assert words in err[-1]
    assert not (tmp_path / "r.npz").exists()


def offsets_module(extensive: bool):
    """SchNetPack's AddOffsets with a mean and per-type atom references, as its trainer fills them in."""
    off = spk.transform.AddOffsets("energy", add_mean=True, add_atomrefs=True, is_extensive=extensive, zmax=100)
    off.atomref = torch.zeros(100)
    off.atomref[1], off.atomref[8] = -0.5, -75.0
    off.mean = torch.tensor([-2.5])
    return off


@pytest.mark.parametrize("extensive", [True, False])
def test_addoffsets_are_reported_as_a_one_body_term(tmp_path, extensive):
    """AddOffsets adds per-bead constants: the network is explained as without them, the offsets are reported
    (per type, per bead, per frame) and network + offsets is the SchNetPack model's own energy."""
    import mdtraj as md

    types = np.array([8] * 8 + [1] * 4)
    plain = spk_net("painn", seed=6)
    net = spk_net("painn", seed=6, post=[offsets_module(extensive)])
    pos = frames(2, seed=7)
    xtc, pdb = write_xtc(tmp_path, pos)
    # the PDB is all oxygen: the bead types are given explicitly
    kw = {"top": pdb, "types": ",".join(map(str, types)), "walks": True, "csv": True, "progress": False}
    res = explain(save_like_schnetpack(net, tmp_path / "off"), xtc, tmp_path / "off.npz", **kw)
    ref = explain(save_like_schnetpack(plain, tmp_path / "plain"), xtc, tmp_path / "plain.npz", **kw)
    for k in ("energy", "total", "walk_r", "pair_r", "trip_r", "bead_total"):
        assert np.array_equal(res[k], ref[k]), k
    per = np.where(types == 8, -75.0, -0.5) + (-2.5)
    if not extensive:
        per = per / N
    assert np.allclose(res["offset_bead"], per, rtol=1e-12)
    assert np.array_equal(res["offset_types"], [1, 8])
    assert np.allclose(res["offset_per_type"], [per[types == 1][0], per[types == 8][0]], rtol=1e-12)
    assert np.allclose(res["offset_energy"], [per.sum()] * 2, rtol=1e-12)
    assert str(res["offsets_from"]) == "postprocessors.1 AddOffsets (mean, atomrefs)"
    assert not ref["offset_energy"].any() and str(ref["offsets_from"]) == ""
    held = md.load(str(xtc), top=str(pdb)).xyz.astype(np.float64) * 10.0
    for f in range(2):  # SchNetPack's own model, postprocessing on: network + offsets
        inputs = CGPotential(ModelConfig("painn", cutoff=CUT), types).inputs(
            torch.tensor(held[f:f + 1]), torch.tensor([BOX] * 3, dtype=torch.float64))
        e_spk = float(net.double()(inputs)["energy"].detach())
        assert res["energy"][f] + res["offset_energy"][f] == pytest.approx(e_spk, rel=1e-12)
    import pandas as pd

    beads = pd.read_csv(tmp_path / "off_beads.csv")
    assert np.allclose(beads["offset"], np.tile(per, 2), rtol=1e-9)


def test_addoffsets_of_another_property_leave_the_energy_alone(tmp_path):
    """Offsets of a property the model does not explain are not counted as energy offsets (SchNetPack itself
    would need that property among the outputs; the energy check applies only the energy's offsets)."""
    off = spk.transform.AddOffsets("dipole", add_mean=True)
    off.mean = torch.tensor([3.0])
    xtc, pdb = write_xtc(tmp_path, frames(1))
    res = explain(save_like_schnetpack(spk_net("schnet", post=[off]), tmp_path / "m"), xtc, tmp_path / "r.npz",
                  top=pdb, progress=False)
    assert not res["offset_energy"].any() and str(res["offsets_from"]) == ""


def test_bad_frames_are_refused_in_one_line(tmp_path):
    model = save_like_schnetpack(spk_net("painn"), tmp_path / "m")
    xtc, pdb = write_xtc(tmp_path, frames(2), angles=70.0)
    with pytest.raises(InputError, match=r"frame 0 has a triclinic box \(angles 70, 70, 70°\)"):
        explain(model, xtc, tmp_path / "r.npz", top=pdb, progress=False)
    xtc, pdb = write_xtc(tmp_path, frames(2))
    with pytest.raises(InputError, match=r"--frames '0,7': frame 7 is outside the trajectory's 2 frames"):
        explain(model, xtc, tmp_path / "r.npz", top=pdb, frames="0,7", progress=False)
    with pytest.raises(InputError, match="need --top"):
        explain(model, xtc, tmp_path / "r.npz", progress=False)
    with pytest.raises(InputError, match=r"--types '8,8': 2 positive bead types given, .* has 12 beads"):
        explain(model, xtc, tmp_path / "r.npz", top=pdb, types="8,8", progress=False)
    with pytest.raises(InputError, match="exceeds half"):
        explain(model, xtc, tmp_path / "r.npz", top=pdb, box=["7", "7", "7"], progress=False)


def test_interrupted_run_resumes_per_frame(tmp_path, monkeypatch):
    import cgexplain.relevance.run as lcli

    model = save_like_schnetpack(spk_net("painn"), tmp_path / "m")
    xtc, pdb = write_xtc(tmp_path, frames(4))
    clean = explain(model, xtc, tmp_path / "clean.npz", top=pdb, stride=1, progress=False)
    real, calls = lcli.compute_frame, []

    def dies_on_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(lcli, "compute_frame", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        explain(model, xtc, tmp_path / "r.npz", top=pdb, progress=False)
    parts = tmp_path / "r.npz.parts"
    assert sorted(p.name for p in parts.glob("frame_*.npz")) == ["frame_00000.npz", "frame_00001.npz"]
    assert not (tmp_path / "r.npz").exists()
    calls.clear()
    res = explain(model, xtc, tmp_path / "r.npz", top=pdb, progress=False)
    assert len(calls) == 2  # frames 2 and 3 only
    for k in ("total", "energy", "pair_r", "trip_r", "bead_total"):
        assert np.array_equal(res[k], clean[k]), k
    assert not parts.exists()
    # another gamma: the parts an interrupted run left are not resumed
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        explain(model, xtc, tmp_path / "g.npz", top=pdb, gamma=0.2, progress=False)
    calls.clear()
    monkeypatch.setattr(lcli, "compute_frame", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    res = explain(model, xtc, tmp_path / "g.npz", top=pdb, gamma=0.0, progress=False)
    assert len(calls) == 4 and not np.allclose(res["total"], clean["total"])


def test_csv_and_plots(tmp_path):
    import pandas as pd

    model = save_like_schnetpack(spk_net("painn"), tmp_path / "m")
    xtc, pdb = write_xtc(tmp_path, frames(2))
    res = explain(model, xtc, tmp_path / "rel.npz", top=pdb, frames="0:2", csv=True, plots=True, progress=False)
    pairs = pd.read_csv(tmp_path / "rel_pairs.csv")
    trips = pd.read_csv(tmp_path / "rel_triplets.csv")
    beads = pd.read_csv(tmp_path / "rel_beads.csv")
    assert list(pairs.columns) == ["frame", "source_frame", "i", "j", "distance_A", "relevance", "relevance_norm"]
    assert len(pairs) == len(res["pair_r"]) and np.allclose(pairs["relevance"], res["pair_r"], rtol=1e-9)
    assert {"theta_deg", "L_A", "relevance"} <= set(trips.columns) and len(trips) == len(res["trip_r"])
    assert len(beads) == 2 * N
    assert beads.groupby("frame")["relevance_total"].sum().to_numpy() == pytest.approx(res["total"], rel=1e-9)
    assert list(beads.columns)[-1] == "offset" and not beads["offset"].any()
    for name in ("rel_fig2", "rel_fig3"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000 and (tmp_path / f"{name}.pdf").exists()
    explain(model, xtc, tmp_path / "norm.npz", top=pdb, frames="0:2", plots=True, plot_scale="normalised",
            progress=False)
    assert (tmp_path / "norm_fig2.png").stat().st_size > 5000 and (tmp_path / "norm_fig3.pdf").exists()
    with pytest.raises(InputError, match=r"--plot-scale 'au': expected one of energy, normalised"):
        explain(model, xtc, tmp_path / "x.npz", top=pdb, plots=True, plot_scale="au", progress=False)


def test_plot_axes_say_what_they_show():
    """kcal/mol (or the model's unit) by default, relevance / norm with its definition on request; g(r) when
    the box is known (≈ 1 for an ideal gas), else the pair density."""
    from cgexplain.figures.explain import pair_structure, relevance_axis

    assert relevance_axis(2, "energy", "kcal/mol") == ("_r", "mean 2-body relevance (kcal/mol)")
    assert relevance_axis(3, "energy", "eV") == ("_r", "mean 3-body relevance (eV)")
    col, label = relevance_axis(2, "normalised", "kcal/mol")
    assert col == "_rnorm" and "relevance / norm" in label and "norm = |ΣR| / n_walks" in label
    rng = np.random.default_rng(0)
    n, n_frames, L = 200, 20, 20.0
    d, fr = [], []
    for f in range(n_frames):
        x = rng.uniform(0, L, (n, 3))
        dx = x[:, None] - x[None]
        dx -= L * np.round(dx / L)
        r = np.sqrt((dx ** 2).sum(-1))[np.triu_indices(n, 1)]
        d.append(r[r < 5.0])
        fr.append(np.full((r < 5.0).sum(), f))
    res = {"pair_dist": np.concatenate(d), "pair_frame": np.concatenate(fr), "frame_index": np.arange(n_frames),
           "box": np.full((n_frames, 3), L), "z": np.ones(n)}
    g, label = pair_structure(res, np.linspace(2.0, 5.0, 7))
    assert label == "g(r)" and np.allclose(g, 1.0, atol=0.06)
    _, label = pair_structure(dict(res, box=np.zeros((n_frames, 3))), np.linspace(2.0, 5.0, 7))
    assert label.startswith("pair density")


def test_workflow_model_file_and_npz_frames(tmp_path):
    """The project's own model.pt and dataset npz go through the same command."""
    from cgexplain.data.dataset import write_dataset
    from cgexplain.nn.models import save_potential

    pot = CGPotential(ModelConfig("painn", cutoff=CUT, n_atom_basis=FEAT, n_interactions=2, n_rbf=NRBF), [8] * N)
    save_potential(tmp_path / "model.pt", pot)
    pos = frames(3)
    write_dataset(tmp_path / "ds.npz", coords=pos, forces=np.zeros_like(pos), box=np.full((3, 3), BOX),
                  z=np.full(N, 8), masses=np.full(N, 18.0), train_idx=np.arange(2), val_idx=np.arange(2, 3))
    res = explain(tmp_path / "model.pt", tmp_path / "ds.npz", tmp_path / "r.npz", stride=2, progress=False)
    assert np.array_equal(res["frame_index"], [0, 2]) and str(res["model_kind"]) == "cgexplain"
    held = np.load(tmp_path / "ds.npz")["coords"].astype(np.float64)  # what the dataset file holds (float32)
    ref = walk_relevance(pot.double(), torch.tensor(held[2]), torch.tensor([BOX] * 3, dtype=torch.float64), 0.1)
    assert res["total"][1] == pytest.approx(float(ref.relevance.sum()), rel=1e-10)


def test_residue_types_from_a_protein_topology(tmp_path):
    """A Cα trajectory of NTL9 (PDB written by mdtraj, open boundaries): --types residue gives the project's
    amino-acid bead types, the same as the workflow's NTL9 model uses."""
    import mdtraj as md
    from cgexplain.core.residues import sequence_types

    aa = md.load(str(REPO / "resources" / "ntl9" / "ntl9_folded.pdb"))
    ca = aa.atom_slice(aa.topology.select("name CA"))
    ca.unitcell_vectors = None
    ca.save_pdb(str(tmp_path / "ca.pdb"))
    model = save_like_schnetpack(spk_net("painn"), tmp_path / "m")
    res = explain(model, tmp_path / "ca.pdb", tmp_path / "r.npz", types="residue", progress=False)
    assert np.array_equal(res["z"], sequence_types("MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA"))
    assert np.allclose(res["box"], 0.0) and res["trip_r"].size > 0
    assert res["bead_total"][0].sum() == pytest.approx(res["total"][0], rel=1e-12)


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- explain-example -->\s*```bash\n(.*?)```", text, re.S)
    assert m, "README.md has no explain example block"
    return m.group(1)


def test_readme_example_runs_as_written(tmp_path):
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_example()], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = np.load(tmp_path / "relevance.npz")
    assert res["total"].shape[0] >= 2 and np.isfinite(res["total"]).all()
    assert (tmp_path / "relevance_pairs.csv").exists() and (tmp_path / "relevance_fig3.png").exists()
