"""Model files saved by SchNetPack releases 2.0.4 (the project's own), 2.1.x and 2.2.0, with the energies and
forces each release itself computes on one committed frame.

Run it inside an environment that holds the release to record (for 2.1 and 2.2 NOT the project's
environment; the commands are in README.md beside this file)::

    OMP_NUM_THREADS=1 python3 tests/data/schnetpack_releases/make_fixtures.py                # the project's 2.0.4
    OMP_NUM_THREADS=1 /tmp/spk21/bin/python tests/data/schnetpack_releases/make_fixtures.py
    OMP_NUM_THREADS=1 /tmp/spk22/bin/python tests/data/schnetpack_releases/make_fixtures.py --spktrain

(2.0.4 has no ``NuclearEmbedding``: its run writes no ``*_painn_nuclear_embedding.pt``.)

It writes, into this folder (``--out`` to change):

* ``frame.xyz`` / ``frame.npz`` — the committed frame (made once, from a fixed seed; a later run checks
  that the files on disk are the ones this script makes and reuses them);
* ``spk<version>_<name>.pt`` — small models built with the release's own classes the way a user builds
  them, deterministically (fixed seeds), saved as SchNetPack saves ``best_model`` (``torch.save(model)``);
* with ``--spktrain``: ``spk<version>_spktrain_best_model`` — the ``best_model`` of a one-epoch ``spktrain``
  run of the release on a tiny ASE database made from the frame (random energies and forces);
* ``expected.json`` — per model file the release's energy and forces on the frame (float64; also the
  float32 values of the model as saved, and the energy without postprocessing), and the versions used.
  Entries of other releases already in the file are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if os.environ.get("PYTHONHASHSEED") != "0":  # SchNetPack stores a set as a list (model_outputs): fix its order
    os.execve(sys.executable, [sys.executable, *sys.argv], dict(os.environ, PYTHONHASHSEED="0"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

# schnetpack <= 2.1.1 imports ``T_co`` from torch.utils.data.dataloader, which torch 2.13 renamed ``_T_co``
# (the same one alias as the project's cgexplain/core/compat.py). 2.2.0 no longer needs it.
import torch.utils.data.dataloader as _dl  # noqa: E402

if not hasattr(_dl, "T_co") and hasattr(_dl, "_T_co"):
    _dl.T_co = _dl._T_co

import ase  # noqa: E402
import ase.io  # noqa: E402
import schnetpack as spk  # noqa: E402
import schnetpack.transform as trn  # noqa: E402

HERE = Path(__file__).resolve().parent

# --- the frame -----------------------------------------------------------------------------------
N_BEADS = 27
BOX = 10.5  # Å, cubic, periodic (cutoff 5 Å < half the box: minimum image sees every neighbour)
MIN_SEP = 3.0  # Å
Z_BEAD = 6  # methane-like beads carry carbon's Z
FRAME_SEED = 20260121

# --- the models (as the project's 2.0.4 models: see workflow/cgexplain/nn/models.py) ------------------
CUTOFF = 5.0
N_ATOM_BASIS = 16
N_INTERACTIONS = 2
N_RBF = 8
LMAX = 2
# After SchNetPack's own initialisation every parameter is moved by a small random amount (fixed seed),
# as training would: zero-initialised biases and embeddings then count in the energy, so a test that maps
# a weight to the wrong place sees it.
PERTURB = 0.05


def make_positions() -> np.ndarray:
    """27 positions in the periodic box, at least MIN_SEP apart (minimum image), from FRAME_SEED."""
    rng = np.random.default_rng(FRAME_SEED)
    pos: list[np.ndarray] = []
    while len(pos) < N_BEADS:
        x = rng.uniform(0.0, BOX, 3)
        if pos:
            d = np.asarray(pos) - x
            d -= BOX * np.round(d / BOX)
            if np.sqrt((d * d).sum(1)).min() < MIN_SEP:
                continue
        pos.append(x)
    return np.round(np.asarray(pos), 6)


def min_separation(pos: np.ndarray) -> float:
    d = pos[:, None] - pos[None]
    d -= BOX * np.round(d / BOX)
    r = np.sqrt((d * d).sum(-1))
    return float(r[~np.eye(len(pos), dtype=bool)].min())


def frame(out: Path) -> ase.Atoms:
    """The committed frame: written if absent, else read and checked against what this script makes.

    The positions used everywhere are the ones read back from ``frame.xyz`` (extXYZ text), stored
    bit for bit in ``frame.npz``."""
    xyz, npz = out / "frame.xyz", out / "frame.npz"
    pos = make_positions()
    if not xyz.exists():
        atoms = ase.Atoms(numbers=[Z_BEAD] * N_BEADS, positions=pos, cell=[BOX] * 3, pbc=True)
        ase.io.write(xyz, atoms, format="extxyz")
    atoms = ase.io.read(xyz, format="extxyz")
    if not (np.abs(atoms.positions - pos).max() < 1e-7 and np.allclose(atoms.cell.lengths(), BOX)
            and (atoms.numbers == Z_BEAD).all() and atoms.pbc.all()):
        raise SystemExit(f"{xyz} is not the frame this script makes; delete it (and frame.npz) to remake it")
    if not npz.exists():
        np.savez(npz, positions=atoms.positions.astype(np.float64), box=np.full(3, BOX, dtype=np.float64),
                 z=atoms.numbers.astype(np.int64))
    stored = np.load(npz)
    if not (np.array_equal(stored["positions"], atoms.positions) and np.array_equal(stored["z"], atoms.numbers)):
        raise SystemExit(f"{npz} does not hold the positions of {xyz}")
    return atoms


# --- models --------------------------------------------------------------------------------------
def radial_and_cutoff():
    return spk.nn.GaussianRBF(n_rbf=N_RBF, cutoff=CUTOFF), spk.nn.CosineCutoff(CUTOFF)


def representation(arch: str, **extra):
    rbf, fcut = radial_and_cutoff()
    common = dict(n_atom_basis=N_ATOM_BASIS, n_interactions=N_INTERACTIONS, radial_basis=rbf, cutoff_fn=fcut)
    if arch == "painn":
        return spk.representation.PaiNN(**common, **extra)
    if arch == "so3net":
        return spk.representation.SO3net(**common, lmax=LMAX, **extra)
    if arch == "schnet":
        return spk.representation.SchNet(**common, **extra)
    raise ValueError(arch)


def potential(rep, postprocessors=None, do_postprocessing=False):
    return spk.model.NeuralNetworkPotential(
        representation=rep,
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=N_ATOM_BASIS, output_key="energy"),
                        spk.atomistic.Forces(energy_key="energy", force_key="forces")],
        postprocessors=postprocessors,
        do_postprocessing=do_postprocessing,
    )


def perturb(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.add_(PERTURB * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model.eval()  # eval(): NuclearEmbedding computes its embedding table here


def offsets(model_dtype=torch.float32):
    """CastTo64 + AddOffsets (per-type atomrefs and a per-atom mean) as SchNetPack's experiment configs use;
    the values are set as ``AddOffsets.datamodule`` sets them from the training data (2.1.1's constructor
    cannot take a per-type ``atomrefs`` tensor: it evaluates ``atomrefs or ...``)."""
    off = trn.AddOffsets("energy", add_mean=True, add_atomrefs=True, zmax=100)
    atomref = torch.zeros(100, dtype=model_dtype)
    atomref[1], atomref[6], atomref[8] = -0.5, -37.75, -75.0
    off.atomref = atomref
    off.mean = torch.tensor([-0.125], dtype=model_dtype)
    return [trn.CastTo64(), off]


def build_models(tag: str) -> dict[str, tuple[torch.nn.Module, dict]]:
    """name -> (model, description) for this release."""
    models = {}
    for k, arch in enumerate(("painn", "so3net", "schnet")):
        torch.manual_seed(100 + k)
        m = perturb(potential(representation(arch)), 200 + k)
        models[f"{tag}_{arch}.pt"] = (m, dict(arch=arch, kind="plain", note=(
            f"{arch} built with the release's classes, default nn.Embedding; energy head Atomwise (sum), Forces, "
            "PairwiseDistances, no postprocessing")))
    torch.manual_seed(110)
    m = perturb(potential(representation("painn"), postprocessors=offsets(), do_postprocessing=True), 210)
    models[f"{tag}_painn_addoffsets.pt"] = (m, dict(arch="painn", kind="addoffsets", note=(
        "painn with postprocessors [CastTo64, AddOffsets(energy, add_mean, add_atomrefs)] and "
        "do_postprocessing=True (as SchNetPack's trainer saves best_model): atomref[6] = -37.75, mean = -0.125 "
        "per atom")))
    if not hasattr(spk.nn, "NuclearEmbedding"):  # 2.0.x: the class came with 2.1
        return models
    torch.manual_seed(120)
    emb = spk.nn.NuclearEmbedding(max_z=101, num_features=N_ATOM_BASIS)  # 101: its electron_config table
    m = perturb(potential(representation("painn", nuclear_embedding=emb)), 220)
    models[f"{tag}_painn_nuclear_embedding.pt"] = (m, dict(arch="painn", kind="nuclear_embedding", note=(
        "painn with nuclear_embedding=spk.nn.NuclearEmbedding(max_z=101, num_features=16): pickles a reference "
        "to schnetpack.nn.embedding, which 2.0.4 lacks; must be refused")))
    return models


# --- the release's own energies ------------------------------------------------------------------
def evaluate(model: torch.nn.Module, atoms: ase.Atoms, dtype, postprocessing: bool | None = None):
    """Energy and forces of ``model`` on ``atoms`` with the release's own converter and ASE neighbour list."""
    import copy

    m = copy.deepcopy(model).to(dtype).eval()
    if postprocessing is not None:
        m.do_postprocessing = postprocessing
    conv = spk.interfaces.AtomsConverter(neighbor_list=trn.ASENeighborList(cutoff=CUTOFF), dtype=dtype)
    out = m(conv(atoms))
    return float(out["energy"].detach().reshape(-1)[0]), out["forces"].detach().to(torch.float64).numpy()


def release() -> str:
    """The installed schnetpack's version (2.0.4 has no ``__version__``)."""
    from importlib.metadata import version

    return getattr(spk, "__version__", None) or version("schnetpack")


def record(model: torch.nn.Module, atoms: ase.Atoms, desc: dict) -> dict:
    e64, f64 = evaluate(model, atoms, torch.float64)
    e32, f32 = evaluate(model, atoms, torch.float32)
    e_raw, f_raw = evaluate(model, atoms, torch.float64, postprocessing=False)
    saved_dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    return dict(
        desc,
        schnetpack=release(), torch=torch.__version__, python=platform.python_version(),
        numpy=np.__version__, ase=ase.__version__,
        saved_dtype=saved_dtype, do_postprocessing=bool(model.do_postprocessing),
        postprocessors=[type(p).__name__ for p in model.postprocessors],
        energy=e64, forces=f64.tolist(),
        energy_without_postprocessing=e_raw, forces_without_postprocessing_equal=bool(np.array_equal(f_raw, f64)),
        energy_float32=e32, forces_float32=f32.tolist(),
        units=dict(energy="kcal/mol (model units)", forces="energy/Å", positions="Å"),
        how=("copy.deepcopy(model).to(dtype).eval(); AtomsConverter(neighbor_list=ASENeighborList(cutoff=5.0), "
             "dtype=dtype)(ase.io.read('frame.xyz')); energy/forces from the model's outputs (float64 unless "
             "*_float32)"),
    )


# --- spktrain --------------------------------------------------------------------------------------
EXPERIMENT = """\
# @package _global_
defaults:
  - override /model: nnp
  - override /data: custom
  - override /logger: csv

run:
  experiment: cg_fixture

globals:
  cutoff: 5.
  lr: 1e-3
  energy_key: energy
  forces_key: forces

data:
  batch_size: 2
  num_train: 4
  num_val: 2
  num_test: 2
  num_workers: 0
  num_val_workers: 0
  num_test_workers: 0
  distance_unit: Ang
  property_units:
    energy: kcal/mol
    forces: kcal/mol/Ang
  transforms:
    - _target_: schnetpack.transform.RemoveOffsets
      property: energy
      remove_mean: True
    - _target_: schnetpack.transform.ASENeighborList
      cutoff: ${globals.cutoff}
    - _target_: schnetpack.transform.CastTo32

model:
  representation:
    n_atom_basis: 16
    n_interactions: 2
    radial_basis:
      n_rbf: 8
  output_modules:
    - _target_: schnetpack.atomistic.Atomwise
      output_key: ${globals.energy_key}
      n_in: ${model.representation.n_atom_basis}
      aggregation_mode: sum
    - _target_: schnetpack.atomistic.Forces
      energy_key: ${globals.energy_key}
      force_key: ${globals.forces_key}
  postprocessors:
    - _target_: schnetpack.transform.CastTo64
    - _target_: schnetpack.transform.AddOffsets
      property: energy
      add_mean: True

task:
  outputs:
    - _target_: schnetpack.task.ModelOutput
      name: ${globals.energy_key}
      loss_fn:
        _target_: torch.nn.MSELoss
      metrics:
        mae:
          _target_: torchmetrics.regression.MeanAbsoluteError
      loss_weight: 0.01
    - _target_: schnetpack.task.ModelOutput
      name: ${globals.forces_key}
      loss_fn:
        _target_: torch.nn.MSELoss
      metrics:
        mae:
          _target_: torchmetrics.regression.MeanAbsoluteError
      loss_weight: 0.99

trainer:
  max_epochs: 1
  accelerator: cpu
"""


def spktrain_best_model(atoms: ase.Atoms, dest: Path) -> dict:
    """Run the release's ``spktrain`` (PaiNN, 1 epoch) on a tiny database made from ``atoms``; copy its
    ``best_model`` to ``dest``. Returns what happened (exit code, last lines of the log)."""
    rng = np.random.default_rng(7)
    work = Path(tempfile.mkdtemp(prefix="spktrain_fixture_"))
    try:
        db = work / "frames.db"
        data = spk.data.ASEAtomsData.create(
            str(db), distance_unit="Ang", property_unit_dict={"energy": "kcal/mol", "forces": "kcal/mol/Ang"})
        systems, props = [], []
        for _ in range(8):
            a = atoms.copy()
            a.positions = a.positions + rng.normal(0.0, 0.1, a.positions.shape)
            systems.append(a)
            props.append({"energy": np.array([rng.normal(-10.0, 1.0)]),
                          "forces": rng.normal(0.0, 1.0, (len(a), 3))})
        data.add_systems(props, systems)
        (work / "configs" / "experiment").mkdir(parents=True)
        (work / "configs" / "experiment" / "cg_fixture.yaml").write_text(EXPERIMENT)
        spktrain = Path(sys.executable).with_name("spktrain")
        cmd = [str(spktrain), "experiment=cg_fixture", f"data.datapath={db}", f"run.path={work / 'runs'}",
               "run.id=fixture", "+seed=1", "+trainer.enable_progress_bar=False"]
        env = dict(os.environ, PWD=str(work), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        log = (proc.stdout + proc.stderr).strip().splitlines()
        best = work / "runs" / "fixture" / "best_model"
        if not best.exists():
            print("\n".join(log[-60:]), file=sys.stderr)
            raise SystemExit(f"spktrain wrote no best_model (exit code {proc.returncode})")
        shutil.copyfile(best, dest)
        last_error = next((re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in reversed(log) if "Error" in line),
                          None)
        return dict(spktrain_command=" ".join(["spktrain"] + cmd[1:2] + ["data.datapath=<tmp>/frames.db",
                                                                          "run.path=<tmp>/runs"] + cmd[4:]),
                    spktrain_exit_code=proc.returncode, spktrain_last_error=last_error)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--spktrain", action="store_true", help="also run spktrain for one epoch (best_model)")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    atoms = frame(out)
    print(f"frame: {len(atoms)} beads, box {BOX} Å, min separation {min_separation(atoms.positions):.3f} Å")

    tag = "spk" + release().replace(".", "")
    expected_path = out / "expected.json"
    expected = json.loads(expected_path.read_text()) if expected_path.exists() else {}
    expected.setdefault("frame", dict(file="frame.xyz", npz="frame.npz", n_beads=N_BEADS, box=[BOX] * 3, z=Z_BEAD,
                                      seed=FRAME_SEED, min_separation=MIN_SEP, cutoff=CUTOFF))
    entries = expected.setdefault("models", {})

    for name, (model, desc) in build_models(tag).items():
        torch.save(model, out / name)
        loaded = torch.load(out / name, weights_only=False)  # record what the file holds, as saved
        entries[name] = record(loaded, atoms, desc)
        print(f"{name:40s} {os.path.getsize(out / name):8d} B  E = {entries[name]['energy']:.12f}")

    if args.spktrain:
        name = f"{tag}_spktrain_best_model"
        info = spktrain_best_model(atoms, out / name)
        loaded = torch.load(out / name, weights_only=False)
        entries[name] = record(loaded, atoms, dict(arch="painn", kind="spktrain", note=(
            "best_model written by the release's spktrain (1 epoch, PaiNN 16 x 2, n_rbf 8, cutoff 5, Atomwise + "
            "Forces, postprocessors CastTo64 + AddOffsets(add_mean), EMA) on 8 perturbed copies of the frame with "
            "random energies and forces"), **info))
        print(f"{name:40s} {os.path.getsize(out / name):8d} B  E = {entries[name]['energy']:.12f}  "
              f"(spktrain exit code {info['spktrain_exit_code']}: {info['spktrain_last_error']})")

    expected["models"] = dict(sorted(entries.items()))
    text = json.dumps(expected, indent=1)
    # one line per list of numbers (a force row, the box): the file stays readable and diffable
    text = re.sub(r"\[\s*([-+0-9.eE]+(?:,\s*[-+0-9.eE]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    expected_path.write_text(text + "\n")


if __name__ == "__main__":
    main()
