"""Model files saved by SchNetPack 2.0.4, 2.1.1 and 2.2.0 themselves (tests/data/schnetpack_releases, made by
its make_fixtures.py), read with the project's stack (schnetpack 2.0.4): the energies and forces each release
computed, the walk relevances of the project's rebuild, the offsets of AddOffsets, and one-line refusals that
name the release and the module of what the project does not rebuild."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import cgexplain.core.compat  # noqa: F401  (schnetpack under torch 2.13)
import numpy as np
import pytest
import schnetpack as spk
import torch
from cgexplain.core.errors import InputError
from cgexplain.explain import explain, main
from cgexplain.nn.models import save_potential
from cgexplain.nn.spk_import import check_same_energy, load_model
from torch import nn

DATA = Path(__file__).resolve().parent / "data" / "schnetpack_releases"
EXPECTED = json.loads((DATA / "expected.json").read_text())["models"]
ACCEPTED = sorted(n for n, e in EXPECTED.items() if e["kind"] != "nuclear_embedding")
NUCLEAR = sorted(n for n, e in EXPECTED.items() if e["kind"] == "nuclear_embedding")
WITH_OFFSETS = sorted(n for n, e in EXPECTED.items() if "AddOffsets" in e["postprocessors"])
RTOL = 1e-6  # issue 21: the release's own energies and forces, to 1e-6 relative
Z = [6] * 27
PROJECT = "2.0.4"


def frame():
    d = np.load(DATA / "frame.npz")
    return d["positions"], d["box"]


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def version_of(name: str) -> str | None:
    """What the file itself carries: 2.0.x writes no spk_version."""
    v = EXPECTED[name]["schnetpack"]
    return None if v == PROJECT else v


def test_fixtures_cover_the_releases_and_stay_small():
    releases = {e["schnetpack"] for e in EXPECTED.values()}
    assert releases == {"2.0.4", "2.1.1", "2.2.0"}
    for v in releases:
        kinds = {(e["arch"], e["kind"]) for e in EXPECTED.values() if e["schnetpack"] == v}
        assert {("painn", "plain"), ("so3net", "plain"), ("schnet", "plain"), ("painn", "addoffsets")} <= kinds, v
    assert {EXPECTED[n]["schnetpack"] for n in NUCLEAR} == {"2.1.1", "2.2.0"}
    assert any(e["kind"] == "spktrain" for e in EXPECTED.values())
    assert all((DATA / n).is_file() for n in EXPECTED)
    assert sum(p.stat().st_size for p in DATA.iterdir() if p.is_file()) < 1_000_000


@pytest.mark.parametrize("name", ACCEPTED)
def test_release_energy_and_forces_from_the_projects_rebuild(name):
    """The file read with 2.0.4 and rebuilt as the project's network gives the release's own energy (network +
    offsets) and forces; the energy check against the file's own model passes."""
    exp = EXPECTED[name]
    pos, box = frame()
    pot = load_model(DATA / name, Z)
    assert pot.kind == "schnetpack" and pot.cfg.arch == exp["arch"] and pot.spk_version == version_of(name)
    check_same_energy(pot, pos, box)
    e, f = pot(torch.tensor(pos)[None], torch.tensor(box))
    e_net = float(e.detach())
    assert rel_diff(e_net, exp["energy_without_postprocessing"]) <= RTOL
    assert rel_diff(e_net + pot.offsets.sum(), exp["energy"]) <= RTOL
    assert rel_diff(f[0].detach().numpy(), exp["forces"]) <= RTOL
    if name in WITH_OFFSETS:
        assert pot.offsets.sum() != 0 and "AddOffsets" in pot.offsets_from
    else:
        assert not pot.offsets.any() and pot.offsets_from == ""


def test_releases_agree_with_each_other():
    """2.0.4, 2.1.1 and 2.2.0 built the same weights from the same seeds: one energy per kind of model."""
    for kind in ("painn", "so3net", "schnet", "painn_addoffsets"):
        energies = [EXPECTED[f"spk{t}_{kind}.pt"]["energy"] for t in ("204", "211", "220")]
        assert max(energies) - min(energies) <= 1e-12 * abs(energies[0]), kind


@pytest.mark.parametrize("name", ACCEPTED)
def test_explain_equals_the_same_weights_saved_as_a_project_model(tmp_path, name):
    """``cgexplain explain`` of the release's file: every walk relevance equals that of the same weights saved
    as the project's model.pt; energy + offset_energy is the release's energy; the offsets are reported."""
    exp = EXPECTED[name]
    xyz = DATA / "frame.xyz"
    res = explain(DATA / name, xyz, tmp_path / "file.npz", walks=True, progress=False)
    pot = load_model(DATA / name, Z)
    save_potential(tmp_path / "model.pt", pot)
    own = explain(tmp_path / "model.pt", xyz, tmp_path / "own.npz", walks=True, progress=False)
    assert str(res["model_kind"]) == "schnetpack" and str(own["model_kind"]) == "cgexplain"
    assert str(res["spk_version"]) == (version_of(name) or "")
    assert np.array_equal(res["walk_nodes"], own["walk_nodes"])
    assert rel_diff(res["walk_r"], own["walk_r"]) <= 1e-12
    for key in ("total", "energy", "pair_r", "trip_r", "bead_total"):
        assert rel_diff(res[key], own[key]) <= 1e-12, key
    assert rel_diff(res["energy"], exp["energy_without_postprocessing"]) <= RTOL
    assert rel_diff(res["energy"] + res["offset_energy"], exp["energy"]) <= RTOL
    assert not own["offset_energy"].any() and not own["offset_bead"].any()
    if exp["kind"] == "addoffsets":  # atomref[6] = -37.75 and a mean of -0.125 per atom
        assert np.array_equal(res["offset_types"], [6])
        assert res["offset_per_type"] == pytest.approx([-37.875], abs=1e-12)
        assert res["offset_energy"] == pytest.approx([27 * -37.875], abs=1e-9)
        assert str(res["offsets_from"]) == "postprocessors.1 AddOffsets (mean, atomrefs)"
    elif exp["kind"] == "spktrain":  # the training set's mean per atom only
        assert str(res["offsets_from"]) == "postprocessors.1 AddOffsets (mean)"
        assert res["offset_energy"][0] == pytest.approx(exp["energy"] - exp["energy_without_postprocessing"],
                                                        rel=RTOL)
    else:
        assert not res["offset_energy"].any() and str(res["offsets_from"]) == ""


def refusal(capsys, tmp_path, model: Path) -> str:
    """Run ``cgexplain explain`` on the frame with ``model``; it must fail with one error line (after the log
    lines before it, no traceback); returns that line."""
    rc = main(["--model", str(model), "--trajectory", str(DATA / "frame.xyz"), "--out", str(tmp_path / "r.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("cgexplain explain: error: "), err
    assert not any("Traceback" in line or line.startswith("cgexplain explain: error") for line in err[:-1]), err
    assert not (tmp_path / "r.npz").exists()
    return err[-1]


@pytest.mark.parametrize("name", NUCLEAR)
def test_nuclear_embedding_is_refused_naming_release_and_module(tmp_path, capsys, name):
    v = EXPECTED[name]["schnetpack"]
    assert refusal(capsys, tmp_path, DATA / name) == (
        f"cgexplain explain: error: model file {DATA / name} (saved with schnetpack {v}): module "
        "'representation.embedding' is NuclearEmbedding (schnetpack.nn.embedding, not in schnetpack 2.0.4), which "
        "this version of cgexplain does not rebuild; supported there: Embedding (SchNetPack's default nuclear "
        "embedding)")


def test_a_20_model_converted_by_22s_compatibility_loader_is_accepted(tmp_path):
    """SchNetPack 2.2's ``utils.compatibility.load_model`` tags a 2.0 model 2.2.0 and gives its representation
    a plain empty ``electronic_embeddings`` list; re-saved that way it is still the same network."""
    net = torch.load(DATA / "spk204_so3net.pt", weights_only=False)
    net.representation.electronic_embeddings = []
    net.spk_version = "2.2.0"
    torch.save(net, tmp_path / "best_model")
    pos, box = frame()
    pot = load_model(tmp_path / "best_model", Z)
    check_same_energy(pot, pos, box)
    e, _ = pot(torch.tensor(pos)[None], torch.tensor(box))
    assert pot.spk_version == "2.2.0"
    assert rel_diff(float(e.detach()), EXPECTED["spk204_so3net.pt"]["energy"]) <= RTOL


def test_truncated_release_file_is_still_a_truncated_file(tmp_path):
    data = (DATA / "spk220_painn_nuclear_embedding.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.pt cannot be read: not a SchNetPack model .*, or truncated"):
        load_model(tmp_path / "cut.pt", Z)


# --- what a later release or a user may pickle and 2.0.4 cannot import (simulated: the classes exist only
# --- while the file is written)

def release_file(tmp_path, version="2.2.0") -> nn.Module:
    """The 2.2.0 PaiNN fixture, as a module to change and save again."""
    net = torch.load(DATA / "spk220_painn.pt", weights_only=False)
    net.spk_version = version
    return net


def save_with_temporary_module(tmp_path, module: str, cls_name: str, build, attach) -> Path:
    """Define class ``cls_name`` in (new or existing) module ``module`` only while ``attach(net, instance)``'s
    model is saved: the file then names a class this installation lacks."""
    existing = sys.modules.get(module)
    mod = existing or types.ModuleType(module)
    cls = type(cls_name, (nn.Module,), {"__module__": module, "__qualname__": cls_name, "__init__": build})
    setattr(mod, cls_name, cls)
    if existing is None:
        sys.modules[module] = mod
    try:
        net = release_file(tmp_path)
        attach(net, cls())
        torch.save(net, tmp_path / "best_model")
    finally:
        delattr(mod, cls_name)
        if existing is None:
            del sys.modules[module]
    return tmp_path / "best_model"


def _linear_init(self):
    nn.Module.__init__(self)
    self.linear_q = nn.Linear(16, 16)


def test_electronic_embedding_is_refused_naming_release_and_module(tmp_path, capsys):
    def attach(net, emb):
        net.representation.electronic_embeddings = nn.ModuleList([emb])

    model = save_with_temporary_module(tmp_path, "schnetpack.nn.embedding", "ElectronicEmbedding", _linear_init, attach)
    assert refusal(capsys, tmp_path, model) == (
        f"cgexplain explain: error: model file {model} (saved with schnetpack 2.2.0): module "
        "'representation.electronic_embeddings.0' is ElectronicEmbedding (schnetpack.nn.embedding, not in "
        "schnetpack 2.0.4), which this version of cgexplain does not rebuild; supported there: none (an empty "
        "list)")


def test_a_later_releases_representation_is_refused(tmp_path, capsys):
    def attach(net, rep):
        net.representation = rep

    model = save_with_temporary_module(tmp_path, "schnetpack.representation", "FancyNet", _linear_init, attach)
    assert refusal(capsys, tmp_path, model) == (
        f"cgexplain explain: error: model file {model} (saved with schnetpack 2.2.0): module 'representation' is "
        "FancyNet (schnetpack.representation, not in schnetpack 2.0.4), which this version of cgexplain does not "
        "rebuild; supported there: PaiNN, SO3net, SchNet")


def test_a_users_own_module_is_refused(tmp_path, capsys):
    def attach(net, head):
        net.output_modules[0] = head

    model = save_with_temporary_module(tmp_path, "my_models", "MyHead", _linear_init, attach)
    assert refusal(capsys, tmp_path, model) == (
        f"cgexplain explain: error: model file {model} (saved with schnetpack 2.2.0): module 'output_modules.0' is "
        "MyHead (my_models, not importable here: a module of its own), which cgexplain does not rebuild")


def test_non_empty_electronic_embeddings_of_known_classes_are_refused(tmp_path, capsys):
    net = release_file(tmp_path)
    net.representation.electronic_embeddings = nn.ModuleList([nn.Linear(16, 16)])
    torch.save(net, tmp_path / "best_model")
    line = refusal(capsys, tmp_path, tmp_path / "best_model")
    assert line.startswith(f"cgexplain explain: error: model file {tmp_path / 'best_model'} (saved with schnetpack "
                           "2.2.0): module 'representation.electronic_embeddings.0' is Linear")
    assert "electronic (charge or spin) embedding, which this version of cgexplain does not rebuild" in line


def test_a_postprocessor_that_scales_the_energy_is_refused_naming_the_release(tmp_path, capsys):
    net = release_file(tmp_path)
    net.postprocessors = nn.ModuleList([spk.transform.CastTo64(),
                                        spk.transform.ScaleProperty("energy", scale=torch.tensor([2.0]))])
    net.do_postprocessing = True
    torch.save(net, tmp_path / "best_model")
    assert refusal(capsys, tmp_path, tmp_path / "best_model") == (
        f"cgexplain explain: error: model file {tmp_path / 'best_model'} (saved with schnetpack 2.2.0): module "
        "'postprocessors.1' is ScaleProperty, which changes the energy beyond per-bead offsets; supported "
        "postprocessors: CastTo32, CastTo64, AddOffsets (set model.do_postprocessing = False before saving to "
        "explain the network without it)")


def test_a_changed_function_behind_the_same_modules_fails_the_energy_check(tmp_path):
    """The energy check stays the judge: offsets that the file's model adds differently from what was read
    (here: AddOffsets told after reading that the property is intensive) are caught on the first frame."""
    pos, box = frame()
    pot = load_model(DATA / "spk220_painn_addoffsets.pt", Z)
    pot.original.postprocessors[1].is_extensive = False
    with pytest.raises(InputError, match=r"\(saved with schnetpack 2\.2\.0\): the rebuilt painn gives energy "
                                         r"-988\.6\d+ \(network 33\.99\d+ \+ offsets -1022\.625\), the file's model"):
        check_same_energy(pot, pos, box)
