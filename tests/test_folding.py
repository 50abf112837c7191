"""Folding states of NTL9 from DSSP elements and native-contact fractions (cgexplain.analysis.folding)."""

import re
from pathlib import Path

import numpy as np
import pytest
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

REPO = Path(__file__).resolve().parents[1]
PDB = REPO / "resources" / "ntl9" / "ntl9_folded.pdb"


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
    assert n == 39
    # exactly the string and the elements the README states (1-based residues there, 0-based beads here)
    readme = (REPO / "README.md").read_text()
    m = re.search(r"shipped structure: `([CEH]+)`, β1 = residues\s+(\d+)–(\d+), β2 (\d+)–(\d+), helix (\d+)–(\d+), "
                  r"β3 (\d+)–(\d+)", readme)
    assert m, "the README no longer states the DSSP string and elements of the shipped NTL9"
    assert dssp == m.group(1) == "CEEEECCCCCCCCCCCCEEECCHHHHHHHHHHHCCEEEC"
    r = [int(g) - 1 for g in m.groups()[1:]]
    assert elements == {"beta1": (r[0], r[1]), "beta2": (r[2], r[3]), "helix": (r[4], r[5]), "beta3": (r[6], r[7])}
    assert elements == {"beta1": (1, 4), "beta2": (17, 19), "helix": (22, 32), "beta3": (35, 37)}
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


def test_folding_events_count_core_to_core_transitions():
    from cgexplain.analysis.folding import folding_events

    # one trajectory: F, barrier, F (no event), U (1), barrier, U, F (2); a second: always F (0)
    q = np.r_[0.9, 0.5, 0.8, 0.1, 0.5, 0.2, 0.95, 0.9, 0.8, 0.75]
    traj = np.r_[np.zeros(7, int), np.ones(3, int)]
    assert folding_events(q, traj).tolist() == [2, 0]
    assert folding_events(q[:7]).tolist() == [2]
    assert folding_events(q[:7], formed=0.96).tolist() == [0]  # no folded core: no event
    with pytest.raises(ValueError, match="length"):
        folding_events(q, traj[:3])


def test_native_q_is_one_on_the_native_structure():
    from cgexplain.analysis.folding import all_native_contacts, contact_fractions
    from cgexplain.data.structure import ca_coordinates

    ca = ca_coordinates(PDB)
    pairs = all_native_contacts(ca)
    assert len(pairs) > 40 and (pairs[:, 1] - pairs[:, 0] >= 4).all()
    stretched = ca * 1.5
    q = contact_fractions(np.stack([ca, stretched]), {"all": pairs}, ca)["all"]
    assert q[0] == 1.0 and q[1] < 0.3
