"""CG mapping: aggregated forces, central-atom positions, periodic wrapping, split, file checks."""

import h5py
import numpy as np
import pytest
from cgexplain.data.dataset import DatasetError
from cgexplain.data.sampling import split_indices
from cgexplain.reference.mapping import aggregate, load_dataset, map_trajectory, wrap_positions


def test_cg_force_is_sum_of_atomic_forces():
    rng = np.random.default_rng(0)
    molecule = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2, 2])
    bead_atom = np.array([1, 3, 9])
    coords = rng.normal(size=(4, 10, 3))
    forces = rng.normal(size=(4, 10, 3))
    pos, f = aggregate(coords, forces, molecule, bead_atom)
    for m in range(3):
        np.testing.assert_allclose(f[:, m], forces[:, molecule == m].sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(pos, coords[:, bead_atom])
    # total force is conserved by the map
    np.testing.assert_allclose(f.sum(1), forces.sum(1), atol=1e-4)


def test_wrapping_into_box():
    box = np.array([[10.0, 12.0, 8.0], [10.0, 12.0, 8.0]])
    pos = np.array([[[-0.5, 12.5, 16.1], [9.99, 0.0, -8.0]], [[10.0, 24.0, 3.0], [-20.25, 11.0, 7.99]]])
    w = wrap_positions(pos, box)
    assert (w >= 0).all() and (w < box[:, None, :]).all()
    np.testing.assert_allclose(w[0, 0], [9.5, 0.5, 0.1], atol=1e-9)
    np.testing.assert_allclose(w[1, 1], [9.75, 11.0, 7.99], atol=1e-9)
    # wrapping only moves by whole box vectors
    k = (pos - w) / box[:, None, :]
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)


def test_split_is_disjoint_and_complete():
    tr, va = split_indices(100, 0.1, 3)
    assert len(va) == 10 and len(tr) == 90
    assert set(tr).isdisjoint(va) and set(tr) | set(va) == set(range(100))
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(100, 1.0, 0)


def _fake_traj(path, n_frames=5):
    rng = np.random.default_rng(1)
    n_mol, per = 4, 3
    with h5py.File(path, "w") as h5:
        h5["coords"] = rng.uniform(-5, 15, size=(n_frames, n_mol * per, 3)).astype("f4")
        h5["forces"] = rng.normal(size=(n_frames, n_mol * per, 3)).astype("f4")
        h5["box"] = np.full((n_frames, 3), 10.0, dtype="f4")
        h5["time_ps"] = np.arange(n_frames, dtype=float)
        h5["masses"] = np.tile([15.999, 1.008, 1.008], n_mol)
        h5["molecule"] = np.repeat(np.arange(n_mol), per)
        h5["bead_atom"] = np.arange(n_mol) * per
        h5["elements"] = np.tile(np.array([b"O", b"H", b"H"]), n_mol)
    return path


def test_map_trajectory_file(tmp_path):
    traj = _fake_traj(tmp_path / "traj.h5")
    info = map_trajectory("water", traj, tmp_path / "ds.npz", 0.4, 0)
    d = load_dataset(tmp_path / "ds.npz")
    assert info == {"frames": 5, "beads": 4, "replicas": 1, "train": 3, "val": 2}
    assert bool(d["periodic"]) and "replica" not in d
    assert d["z"].tolist() == [8] * 4
    np.testing.assert_allclose(d["masses"], 18.015, atol=1e-3)
    with h5py.File(traj) as h5:
        np.testing.assert_allclose(d["forces"][:, 1], h5["forces"][:, 3:6].sum(1), atol=1e-5)
    assert (d["coords"] >= 0).all() and (d["coords"] < 10.0).all()
    assert not (tmp_path / "ds.npz.tmp.npz").exists()


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        map_trajectory("water", tmp_path / "missing.h5", tmp_path / "o.npz", 0.1, 0)
    with h5py.File(tmp_path / "bad.h5", "w") as h5:
        h5["coords"] = np.zeros((2, 3, 3))
    with pytest.raises(KeyError, match=r"bad.h5.*forces"):
        map_trajectory("water", tmp_path / "bad.h5", tmp_path / "o.npz", 0.1, 0)
    np.savez(tmp_path / "ds.npz", coords=np.zeros((2, 3, 3)))
    with pytest.raises(DatasetError, match="ds.npz"):
        load_dataset(tmp_path / "ds.npz")


def test_replicas_are_concatenated_and_labelled(tmp_path):
    """Several reference runs of one system make one dataset whose frames know their replica."""
    a, b = _fake_traj(tmp_path / "r0.h5", 5), _fake_traj(tmp_path / "r1.h5", 3)
    info = map_trajectory("water", [a, b], tmp_path / "ds.npz", 0.25, 0)
    d = load_dataset(tmp_path / "ds.npz")
    assert info["frames"] == 8 and info["replicas"] == 2
    assert d["replica"].tolist() == [0] * 5 + [1] * 3
    with h5py.File(b) as h5:
        np.testing.assert_allclose(d["forces"][5:, 2], h5["forces"][:, 6:9].sum(1), atol=1e-5)


def test_unmapped_atoms_carry_no_force():
    """Atoms whose force_bead is -1 add to no bead (the Cα map drops side chains)."""
    rng = np.random.default_rng(2)
    coords, forces = rng.normal(size=(3, 6, 3)), rng.normal(size=(3, 6, 3))
    force_bead = np.array([0, 0, -1, 1, -1, 1])
    pos, f = aggregate(coords, forces, force_bead, np.array([0, 3]))
    np.testing.assert_allclose(f[:, 0], forces[:, [0, 1]].sum(1), atol=1e-5)
    np.testing.assert_allclose(f[:, 1], forces[:, [3, 5]].sum(1), atol=1e-5)
    np.testing.assert_array_equal(pos, coords[:, [0, 3]])
