"""Systems are data: a throw-away system registered here, from this file alone, goes through the whole
chain (reference MD -> CG mapping -> training -> CG simulation), and the config schema checks its keys."""

import copy

import numpy as np
import openmm
import pytest
import yaml
from cgexplain.core.config import ParamsError, stage_params
from cgexplain.data.dataset import load_dataset
from cgexplain.reference.mapping import map_trajectory
from cgexplain.reference.reference_md import run_reference_md
from cgexplain.data.dataset import load_trajectory
from cgexplain.simulate import simulate
from cgexplain.systems import REGISTRY, AtomTable, CGMap, System, get_system, register, system_of
from cgexplain.train import train
from cgexplain.validation import validate_config
from conftest import REPO
from openmm import app, unit

N_ATOMS, BOX_NM = 64, 1.4
POS = {"type": "number", "exclusiveMinimum": 0}


@register
class LJLiquid(System):
    """Argon-like Lennard-Jones atoms on a jittered lattice; every atom is its own bead."""

    name = "lj_liquid_test"
    periodic = True
    config_schema = {"required": ["md"], "properties": {"md": {
        "type": "object", "additionalProperties": False,
        "properties": {"epsilon_kJ": POS, "timestep_fs": POS, "save_interval_ps": POS,
                       "equilibration_ps": {"type": "number", "minimum": 0}, "production_ps": POS}}}}

    def build(self, cfg, replica, seed, source=None):
        top = app.Topology()
        chain = top.addChain()
        ar = app.Element.getBySymbol("Ar")
        system = openmm.System()
        nb = openmm.NonbondedForce()
        nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
        nb.setCutoffDistance(0.65)
        for _ in range(N_ATOMS):
            top.addAtom("Ar", ar, top.addResidue("AR", chain))
            system.addParticle(39.948)
            nb.addParticle(0.0, 0.34, float(cfg["md"]["epsilon_kJ"]))
        system.addForce(nb)
        box = np.eye(3) * BOX_NM
        system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) for row in box])
        top.setPeriodicBoxVectors(box * unit.nanometer)
        g = (np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * BOX_NM / 4
        g += np.random.default_rng(seed).normal(scale=0.01, size=g.shape)
        return top, system, g * unit.nanometer

    def cg_map(self, atoms: AtomTable) -> CGMap:
        n = len(atoms.masses)
        return CGMap(bead_atom=np.arange(n), force_bead=np.arange(n), z=np.full(n, 18))


def lj_block(**md):
    return {"system": "lj_liquid_test", "temperature_K": 120.0,
            "models": {"painn": {"cutoff_A": 5.0, "n_atom_basis": 8, "n_interactions": 1, "n_rbf": 6}},
            "md": {"epsilon_kJ": 0.996, "timestep_fs": 4.0, "save_interval_ps": 0.2, "equilibration_ps": 0.4,
                   "production_ps": 4.0, **md}}


def test_throwaway_system_runs_md_mapping_training_and_simulation(tmp_path):
    block = lj_block()
    block["md"].update(friction_per_ps=1.0, platform="CPU", checkpoint_interval_ps=1.0, report_interval_ps=2.0,
                       temperature_band=[0.5, 2.0])
    traj = tmp_path / "aa" / "replica_0.h5"
    info = run_reference_md("lj_liquid_test", block, traj, seed=3, threads=2)
    assert info["frames"] == 20
    ds = tmp_path / "cg" / "dataset.npz"
    map_trajectory("lj_liquid_test", [traj], ds, 0.2, 0)
    d = load_dataset(ds)
    assert d["coords"].shape == (20, N_ATOMS, 3) and (d["z"] == 18).all()
    np.testing.assert_allclose(d["masses"], 39.948)
    assert (d["coords"] >= 0).all() and (d["coords"] < 10 * BOX_NM + 1e-4).all()
    assert np.abs(d["forces"]).mean() > 0.01  # real LJ forces (kcal/mol/Å) reached the dataset

    hp = block["models"]["painn"]
    p = {"batch_size": 4, "accumulate_grad_batches": 1, "lr": 5e-3, "weight_decay": 0.0, "lr_factor": 0.5,
         "lr_patience": 5, "lr_cooldown": 0, "min_lr": 1e-6, "ema_decay": 0.5, "max_epochs": 2,
         "early_stopping_patience": 5, "seed": 0}
    model = tmp_path / "models" / "painn" / "model.pt"
    meta = train(ds, "painn", hp, p, model, device="cpu", threads=2)
    assert np.isfinite(meta["best_val_rmse"])

    out = tmp_path / "cgsim" / "trajectory.npz"
    sim = {"n_replicas": 2, "timestep_fs": 4.0, "friction_per_ps": 1.0, "temperature_K": 120.0, "n_steps": 20,
           "save_interval": 5, "checkpoint_interval": 10, "save_forces": False, "seed": 1}
    simulate(model, ds, sim, out, device="cpu", threads=2, system="lj_liquid_test")
    t = load_trajectory(out)
    assert t["coords"].shape == (2, 4, N_ATOMS, 3) and np.isfinite(t["coords"]).all()


def test_registry_finds_package_systems_and_explains_unknown_ones():
    assert get_system("methane").periodic and get_system("water").periodic
    assert "fluid_relevance" in get_system("water").figures
    with pytest.raises(KeyError, match="unknown system 'argon'"):
        get_system("argon")
    with pytest.raises(ValueError, match="unknown figure families"):
        register(type("Bad", (System,), {"name": "bad_fig_test", "figures": ("fig99",)}))
    assert "bad_fig_test" not in REGISTRY


@pytest.fixture
def paper_cfg():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_config_takes_a_new_system_block_and_checks_its_keys(paper_cfg):
    cfg = copy.deepcopy(paper_cfg)
    cfg["systems"]["lj"] = lj_block()
    validate_config(cfg, "cfg")
    assert system_of(cfg, "lj").name == "lj_liquid_test"
    bad = copy.deepcopy(cfg)
    bad["systems"]["lj"]["md"]["epsilon"] = 1.0
    with pytest.raises(ParamsError, match=r"'systems\.lj\.md'.*'epsilon' was unexpected"):
        validate_config(bad, "cfg")
    bad = copy.deepcopy(cfg)
    del bad["systems"]["lj"]["md"]
    with pytest.raises(ParamsError, match=r"'systems\.lj'.*'md' is a required property"):
        validate_config(bad, "cfg")
    bad = copy.deepcopy(cfg)
    bad["systems"]["lj"]["train"] = {"learning_rate": 1.0}
    with pytest.raises(ParamsError, match=r"'systems\.lj\.train'.*'learning_rate' was unexpected"):
        validate_config(bad, "cfg")


def test_stage_params_layering(paper_cfg):
    cfg = copy.deepcopy(paper_cfg)
    cfg["train"]["per_model"] = {"painn": {"lr": 1e-3, "max_epochs": 7}}
    cfg["systems"]["water"]["train"] = {"max_epochs": 9, "per_model": {"painn": {"lr": 2e-3}}}
    p = stage_params(cfg, "train", "water", "painn")
    assert (p["lr"], p["max_epochs"], p["batch_size"]) == (2e-3, 9, cfg["train"]["batch_size"])
    assert stage_params(cfg, "train", "methane", "painn")["max_epochs"] == 7
    sim = stage_params(cfg, "simulate", "ntl9", "painn")
    assert sim["temperature_K"] == 350.0 and sim["n_replicas"] == cfg["systems"]["ntl9"]["simulate"]["n_replicas"]
    assert stage_params(cfg, "simulate", "methane", "painn")["temperature_K"] == 300.0


def test_labels_say_which_ntl9(paper_cfg):
    """Figure titles name what a block runs (System.label): the two NTL9 routes and the Gō model differ."""
    from cgexplain.figures.protein.panels import titled

    blocks = paper_cfg["systems"]
    assert get_system("ntl9").label(blocks["ntl9"]).startswith("NTL9 (published Cα data")
    openmm_route = {**blocks["ntl9"], "data": {**blocks["ntl9"]["data"], "route": "openmm"}}
    assert "implicit-solvent" in get_system("ntl9").label(openmm_route)
    assert get_system("ntl9_go").label(blocks["ntl9_go"]).startswith("Gō NTL9")
    assert get_system("methane").label(blocks["methane"]) == "methane"
    assert titled({"label": np.asarray("Gō NTL9")}, "Figure") == "Gō NTL9: Figure" and titled({}, "Figure") == "Figure"
