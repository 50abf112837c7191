"""Folding states of NTL9 from DSSP elements and native-contact fractions (cgexplain.analysis.folding)."""

from pathlib import Path

import numpy as np
import pytest
from cgexplain.analysis import folding
from cgexplain.analysis.folding import (
    PAIRINGS,
    STATES,
    classify,
    contact_fractions,
    native_contacts,
    sample_state_frames,
    state_table,
)
from cgexplain.data.structure import ca_coordinates, dssp_string, secondary_structure

PDB = Path(__file__).resolve().parents[1] / "resources" / "ntl9" / "ntl9_folded.pdb"


@pytest.fixture(scope="module")
def ntl9():
    elements = secondary_structure(PDB)
    ca = ca_coordinates(PDB)
    contacts = native_contacts(ca, elements)
    return elements, ca, contacts


def _state(x, ca, contacts, **kw):
    fr = contact_fractions(x, contacts, ca)
    return classify(fr, **kw)[0], {k: float(v[0]) for k, v in fr.items()}


def _centroid(ca, elements, name):
    a, b = elements[name]
    return ca[a:b + 1].mean(axis=0)


def _moved(ca, elements, name, away_from, dist=10.0):
    """``name``'s beads moved rigidly by ``dist`` Å along centroid(away_from) -> centroid(name)."""
    u = _centroid(ca, elements, name) - _centroid(ca, elements, away_from)
    u /= np.linalg.norm(u)
    x = ca.copy()
    a, b = elements[name]
    x[a:b + 1] += dist * u
    return x


def test_secondary_structure_of_shipped_ntl9(ntl9):
    elements, ca, contacts = ntl9
    dssp = dssp_string(PDB)
    print("DSSP", dssp, elements, {k: len(v) for k, v in contacts.items()})
    n = len(ca)
    assert n == 39 and len(dssp) == n and set(dssp) <= set("EHC")
    assert set(elements) == set(folding.ELEMENT_NAMES)
    b1, b2, b3, h = (elements[k] for k in ("beta1", "beta2", "beta3", "helix"))
    for (a, b), code in ((b1, "E"), (b2, "E"), (b3, "E"), (h, "H")):
        assert 0 <= a < b < n and set(dssp[a:b + 1]) == {code}
    assert b1[1] < b2[0] and b2[1] < h[0] and h[1] < b3[0]     # β1, β2, helix, β3 in sequence order
    assert b1[0] <= 3 and b1[1] <= 8                            # β1 at the N-terminus
    assert b3[1] >= n - 4 and b3[0] >= n - 10                   # β3 at the C-terminus
    assert h[1] - h[0] + 1 >= 8                                 # NTL9's central helix is long
    np.testing.assert_allclose(ca[0], [43.041, 6.966, 20.404], atol=1e-3)   # first CA of the PDB, Å
    for p in PAIRINGS:
        assert contacts[p].ndim == 2 and contacts[p].shape[1] == 2 and len(contacts[p]) >= 3
    assert all(j - i >= 3 for i, j in contacts["helix"])


def test_folded_structure_is_F(ntl9):
    elements, ca, contacts = ntl9
    state, fr = _state(ca, ca, contacts)
    assert state == "F" and fr == {p: 1.0 for p in PAIRINGS}


def test_extended_chain_is_U(ntl9):
    elements, ca, contacts = ntl9
    line = np.zeros_like(ca)
    line[:, 0] = 3.8 * np.arange(len(ca))
    state, fr = _state(line, ca, contacts)
    assert state == "U" and max(fr.values()) == 0.0


def test_beta1_pulled_from_beta2_is_not_F(ntl9):
    elements, ca, contacts = ntl9
    state, fr = _state(_moved(ca, elements, "beta1", "beta2"), ca, contacts)
    assert state != "F" and fr["beta1_beta2"] < 0.3 and fr["helix"] == 1.0


def test_beta2_pulled_from_beta1_is_P1(ntl9):
    """β1–β3 sheet and helix native, β1–β2 broken: the paper's P1."""
    elements, ca, contacts = ntl9
    state, fr = _state(_moved(ca, elements, "beta2", "beta1"), ca, contacts)
    assert state == "P1", fr
    assert fr["beta1_beta2"] < 0.3 and fr["beta1_beta3"] == 1.0 and fr["helix"] == 1.0


def test_only_beta1_beta2_hairpin_is_P2(ntl9):
    """Native β1–β2 hairpin, the rest (helix and β3) straightened away from it: the paper's P2."""
    elements, ca, contacts = ntl9
    h0 = elements["helix"][0]
    x = ca.copy()
    hairpin = ca[:h0].mean(axis=0)
    u = ca[h0 - 1] - hairpin
    u /= np.linalg.norm(u)
    x[h0:] = ca[h0 - 1] + 3.8 * np.arange(1, len(ca) - h0 + 1)[:, None] * u
    state, fr = _state(x, ca, contacts)
    assert state == "P2", fr
    assert fr["beta1_beta2"] == 1.0 and fr["beta1_beta3"] == 0.0 and fr["helix"] == 0.0
    # helix straightened alone (β3 still native) is not F and not P2
    y = ca.copy()
    a, b = elements["helix"]
    y[a:b + 1] = ca[a] + 3.8 * np.arange(b - a + 1)[:, None] * u
    state, fr = _state(y, ca, contacts)
    assert state not in ("F", "P2") and fr["helix"] == 0.0


def test_thresholds_and_in_between_fractions():
    fr = {"beta1_beta2": np.array([1.0, 0.5, 0.1, 0.2, 0.9, 0.9]),
          "beta1_beta3": np.array([1.0, 1.0, 0.1, 0.8, 0.1, 0.5]),
          "helix": np.array([1.0, 1.0, 0.0, 0.7, 0.29, 0.1])}
    labels = classify(fr)
    assert labels.dtype == np.dtype("<U5")
    assert labels.tolist() == ["F", "other", "U", "P1", "P2", "other"]
    assert classify(fr, formed=0.5, broken=0.5).tolist() == ["F", "F", "U", "P1", "P2", "other"]
    with pytest.raises(ValueError, match="broken <= formed"):
        classify(fr, formed=0.3, broken=0.7)


def test_chunking_and_smooth_switch(ntl9):
    elements, ca, contacts = ntl9
    rng = np.random.default_rng(1)
    frames = (ca[None] + rng.normal(scale=1.5, size=(11, *ca.shape))).astype(np.float32)
    whole = contact_fractions(frames, contacts, ca)
    pieces = contact_fractions(frames, contacts, ca, chunk=3)
    for p in PAIRINGS:
        np.testing.assert_array_equal(whole[p], pieces[p])
        assert whole[p].shape == (11,) and 0.0 <= whole[p].min() and whole[p].max() <= 1.0
    # Best–Hummer–Eaton switch: ~1 on the native structure, ~0 on a straight chain
    smooth = contact_fractions(ca, contacts, ca, smooth_beta=5.0)
    assert all(smooth[p][0] > 0.95 for p in PAIRINGS) and classify(smooth)[0] == "F"
    line = np.zeros_like(ca)
    line[:, 0] = 3.8 * np.arange(len(ca))
    assert all(v[0] < 0.01 for v in contact_fractions(line, contacts, ca, smooth_beta=5.0).values())


def test_errors_name_the_problem(ntl9, tmp_path):
    import mdtraj as md

    elements, ca, contacts = ntl9
    helix_only = tmp_path / "helix_only.pdb"
    t = md.load(str(PDB))
    t.atom_slice(t.topology.select("resid 20 to 33")).save_pdb(str(helix_only))
    with pytest.raises(ValueError, match="helix_only.pdb.*β-strand") as err:
        secondary_structure(helix_only)
    assert "'" in str(err.value)                                    # the DSSP string is shown
    line = np.zeros_like(ca)
    line[:, 0] = 3.8 * np.arange(len(ca))
    with pytest.raises(ValueError, match="beta1_beta2"):
        native_contacts(line, elements)
    with pytest.raises(ValueError, match="coords"):
        contact_fractions(ca[:10][None], contacts, ca)


def test_sample_state_frames_and_table():
    states = np.array(["U"] * 5 + ["F"] * 40 + ["other"] * 3 + ["F"] * 60 + ["P1"] * 2, dtype="<U5")
    f_frames = np.flatnonzero(states == "F")
    pick = sample_state_frames(states, "F", 10, seed=3)
    assert pick.dtype == np.int64 and len(pick) == 10
    assert np.all(states[pick] == "F") and np.all(np.diff(pick) > 0)
    pos = np.searchsorted(f_frames, pick)                  # positions within the F frames
    assert np.all(np.abs(np.diff(pos) - 10) <= 1) and pos[0] < 10
    assert len({tuple(sample_state_frames(states, "F", 10, seed=s)) for s in range(6)}) > 1  # offset varies
    np.testing.assert_array_equal(pick, sample_state_frames(states, "F", 10, seed=3))   # seeded
    np.testing.assert_array_equal(sample_state_frames(states, "P1", 10), np.flatnonzero(states == "P1"))
    empty = sample_state_frames(states, "P2", 10)
    assert empty.shape == (0,) and empty.dtype == np.int64
    with pytest.raises(ValueError, match="unknown state"):
        sample_state_frames(states, "X", 3)
    table = state_table(states)
    assert list(table) == [*STATES, "other"]
    assert table == {"F": 100, "U": 5, "P1": 2, "P2": 0, "other": 3}
