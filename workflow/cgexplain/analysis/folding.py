"""Folding states of a Cα protein, defined from the folded structure rather than hand-drawn.

The paper (Bonneau et al. 2025, NTL9 section) labels four regions of the NTL9 landscape: folded
(F), unfolded (U) and two intermediates on the two folding pathways, P1 ("the β13 sheet and the
α-helix are native-like but the β12 is less stable") and P2 ("only the β12 sheet is correctly
formed"). Here these states are defined per frame from fractions of native contacts of the
secondary-structure elements, which are themselves taken from the folded all-atom structure:

1. :func:`cgexplain.data.structure.secondary_structure` runs DSSP (mdtraj ``compute_dssp``, simplified codes E/H/C) on the
   folded structure and returns inclusive bead ranges of three β-strands ``beta1``, ``beta2``,
   ``beta3`` (E segments of at least ``min_strand`` residues, in sequence order; if there are more
   than three, the three longest, ties to the earlier one, kept in sequence order) and ``helix``
   (the longest H segment of at least ``min_helix`` residues). Fewer strands or no helix is a
   ``ValueError`` that names the file and shows the DSSP string.
2. :func:`native_contacts` lists, per pairing in :data:`PAIRINGS`, the Cα pairs closer than
   ``cutoff_A`` in the folded structure: ``beta1_beta2`` (i in β1, j in β2), ``beta1_beta3``
   (i in β1, j in β3) and ``helix`` (i < j inside the helix, j - i >= 3).
3. :func:`contact_fractions` gives, per pairing and frame, the fraction of those pairs with
   ``d < tolerance * d_native``. The default is this hard cutoff (a pair counts 0 or 1; a pair
   closer than native still counts as formed). With ``smooth_beta`` set, each pair instead counts
   the Best–Hummer–Eaton switch ``1 / (1 + exp(smooth_beta * (d - tolerance * d_native)))``
   (``smooth_beta`` in 1/Å; BHE use 5 Å⁻¹ with tolerance 1.8 for heavy atoms, ~1.5 for Cα).
   Frames are processed in chunks so that ~2.4 M frames need only a few tens of MB at a time.
4. :func:`classify` labels frames: a pairing is *formed* when its fraction is ``>= formed`` and
   *not formed* when it is ``< broken``; in between it is neither.

   ====  =============  =============  =============
   name  beta1_beta2    beta1_beta3    helix
   ====  =============  =============  =============
   F     formed         formed         formed
   U     not formed     not formed     not formed
   P1    not formed     formed         formed
   P2    formed         not formed     not formed
   ====  =============  =============  =============

   Every other frame is ``"other"``.

API (all residue indices are 0-based bead indices, i.e. positions among the protein residues
that have a CA atom, in topology order; caps such as ACE/NME have none and are skipped)::

    ELEMENT_NAMES = ("beta1", "beta2", "beta3", "helix")
    PAIRINGS = ("beta1_beta2", "beta1_beta3", "helix")
    STATES = ("F", "U", "P1", "P2")          # plus "other" in labels and tables

    (data.structure) secondary_structure(pdb_path, min_strand=2, min_helix=4) -> {element: (start, end)}
    dssp_string(pdb_path) -> str             # simplified DSSP of the beads, e.g. "CEEEEC…"
    (data.structure) ca_coordinates(pdb_path) -> (N, 3) Å
    native_contacts(ca_folded, elements, cutoff_A=8.0) -> {pairing: (K, 2) int64}
    contact_fractions(coords, contacts, ca_folded, tolerance=1.2, smooth_beta=None,
                      chunk=16384) -> {pairing: (F,) float64}
    classify(fractions, formed=0.7, broken=0.3) -> (F,) '<U5'
    sample_state_frames(states, state, n, seed=0) -> (<= n,) int64 frame indices
    state_table(states) -> {"F": n, "U": n, "P1": n, "P2": n, "other": n}
    all_native_contacts(ca_folded, cutoff_A=8.0, min_seq_sep=4) -> (K, 2)   # the contacts of Q
    folding_events(q, trajectory=None, formed=0.7, broken=0.3) -> (R,) events per trajectory

The first frame of a multi-model PDB is used. Coordinates are in Å throughout.
"""

from __future__ import annotations

import numpy as np

from ..data.sampling import evenly_spaced
from ..data.structure import ca_coordinates, secondary_structure  # noqa: F401  (steps 1 and 2, re-exported)

ELEMENT_NAMES = ("beta1", "beta2", "beta3", "helix")
PAIRINGS = ("beta1_beta2", "beta1_beta3", "helix")
STATES = ("F", "U", "P1", "P2")
OTHER = "other"

#: pairing -> (formed-state requirement per state): True formed, False not formed.
_DEFINITION = {
    "F": {"beta1_beta2": True, "beta1_beta3": True, "helix": True},
    "U": {"beta1_beta2": False, "beta1_beta3": False, "helix": False},
    "P1": {"beta1_beta2": False, "beta1_beta3": True, "helix": True},
    "P2": {"beta1_beta2": True, "beta1_beta3": False, "helix": False},
}


def _check_elements(elements: dict, n_beads: int) -> None:
    missing = [k for k in ELEMENT_NAMES if k not in elements]
    if missing:
        raise ValueError(f"elements lack {missing}; expected keys {ELEMENT_NAMES}")
    for k in ELEMENT_NAMES:
        a, b = (int(v) for v in elements[k])
        if not 0 <= a <= b < n_beads:
            raise ValueError(f"element {k} = ({a}, {b}) is not an inclusive range inside 0..{n_beads - 1}")


def native_contacts(ca_folded: np.ndarray, elements: dict, cutoff_A: float = 8.0) -> dict[str, np.ndarray]:
    """Per pairing, the (K, 2) bead pairs closer than ``cutoff_A`` Å in the folded structure.

    ``beta1_beta2``: (i in β1, j in β2); ``beta1_beta3``: (i in β1, j in β3); ``helix``: i < j in
    the helix with j - i >= 3. A pairing without any native contact is a ``ValueError``.
    """
    ca = np.asarray(ca_folded, dtype=np.float64)
    if ca.ndim != 2 or ca.shape[1] != 3:
        raise ValueError(f"ca_folded must have shape (N, 3), got {ca.shape}")
    _check_elements(elements, len(ca))

    def span(name):
        a, b = (int(v) for v in elements[name])
        return np.arange(a, b + 1)

    candidates = {
        "beta1_beta2": np.array([(i, j) for i in span("beta1") for j in span("beta2")], dtype=np.int64),
        "beta1_beta3": np.array([(i, j) for i in span("beta1") for j in span("beta3")], dtype=np.int64),
        "helix": np.array([(i, j) for i in span("helix") for j in span("helix") if j - i >= 3],
                          dtype=np.int64).reshape(-1, 2),
    }
    out = {}
    for name, pairs in candidates.items():
        d = np.linalg.norm(ca[pairs[:, 0]] - ca[pairs[:, 1]], axis=-1) if len(pairs) else np.zeros(0)
        keep = pairs[d < cutoff_A]
        if len(keep) == 0:
            raise ValueError(f"pairing {name}: no native Cα contact closer than {cutoff_A} Å between the "
                             f"elements {elements} (raise cutoff_A or check the elements)")
        out[name] = keep
    return out


def contact_fractions(coords: np.ndarray, contacts: dict, ca_folded: np.ndarray, tolerance: float = 1.2,
                      smooth_beta: float | None = None, chunk: int = 16384) -> dict[str, np.ndarray]:
    """Per pairing, the (F,) fraction of its native pairs still formed in each frame.

    A pair is formed when ``d < tolerance * d_native`` (hard cutoff, default); with ``smooth_beta``
    (1/Å) it counts the Best–Hummer–Eaton switch ``1 / (1 + exp(smooth_beta * (d - tolerance *
    d_native)))`` instead. ``coords`` is (F, N, 3) in Å (a single (N, 3) frame is taken as F = 1),
    any float dtype or a memory map; frames are read ``chunk`` at a time.
    """
    coords = np.asarray(coords) if not isinstance(coords, np.ndarray) else coords
    if coords.ndim == 2:
        coords = coords[None]
    ca = np.asarray(ca_folded, dtype=np.float64)
    if coords.ndim != 3 or coords.shape[1:] != ca.shape or ca.shape[1:] != (3,):
        raise ValueError(f"coords {coords.shape} must be (F, N, 3) with the folded structure's N: "
                         f"ca_folded has shape {ca.shape}")
    names = [p for p in PAIRINGS if p in contacts] + [p for p in contacts if p not in PAIRINGS]
    pairs = {p: np.asarray(contacts[p], dtype=np.int64).reshape(-1, 2) for p in names}
    for p in names:
        if len(pairs[p]) == 0:
            raise ValueError(f"pairing {p} has no native contacts")
    all_pairs = np.concatenate([pairs[p] for p in names])
    bounds = np.cumsum([0] + [len(pairs[p]) for p in names])
    beads = np.unique(all_pairs)                      # read only the beads that take part
    local = np.searchsorted(beads, all_pairs)
    ref = tolerance * np.linalg.norm(ca[all_pairs[:, 0]] - ca[all_pairs[:, 1]], axis=-1)
    F = coords.shape[0]
    out = {p: np.empty(F, dtype=np.float64) for p in names}
    chunk = max(1, int(chunk))
    for s in range(0, F, chunk):
        x = np.asarray(coords[s:s + chunk][:, beads], dtype=np.float64)
        d = np.linalg.norm(x[:, local[:, 0]] - x[:, local[:, 1]], axis=-1)   # (f, P)
        if smooth_beta is None:
            q = (d < ref).astype(np.float64)
        else:
            q = 0.5 * (1.0 - np.tanh(0.5 * float(smooth_beta) * (d - ref)))  # = 1/(1+exp(β(d-ref)))
        for k, p in enumerate(names):
            out[p][s:s + chunk] = q[:, bounds[k]:bounds[k + 1]].mean(axis=1)
    return out


def classify(fractions: dict, formed: float = 0.7, broken: float = 0.3) -> np.ndarray:
    """(F,) labels ``"F"``, ``"U"``, ``"P1"``, ``"P2"`` or ``"other"`` (dtype '<U5').

    A pairing is formed when its fraction is ``>= formed`` and not formed when ``< broken``;
    a fraction in between is neither, so a frame needing it either way is ``"other"``.
    """
    if not broken <= formed:
        raise ValueError(f"need broken <= formed, got broken={broken}, formed={formed}")
    missing = [p for p in PAIRINGS if p not in fractions]
    if missing:
        raise ValueError(f"fractions lack {missing}; expected keys {PAIRINGS}")
    f = {p: np.asarray(fractions[p], dtype=np.float64).reshape(-1) for p in PAIRINGS}
    n = {len(v) for v in f.values()}
    if len(n) != 1:
        raise ValueError(f"fractions have different lengths: { {p: len(v) for p, v in f.items()} }")
    is_formed = {p: v >= formed for p, v in f.items()}
    is_broken = {p: v < broken for p, v in f.items()}
    labels = np.full(n.pop(), OTHER, dtype="<U5")
    for state in STATES:                      # the definitions are mutually exclusive
        mask = np.ones(len(labels), dtype=bool)
        for p, want in _DEFINITION[state].items():
            mask &= is_formed[p] if want else is_broken[p]
        labels[mask] = state
    return labels


def sample_state_frames(states: np.ndarray, state: str, n: int, seed: int = 0) -> np.ndarray:
    """Up to ``n`` frame indices labelled ``state``, evenly spread over that state's frames.

    With M frames in the state and M > n, picks the frames at positions ``offset + k * M / n``
    (k = 0..n-1) of the state's frame list, the offset drawn uniformly in [0, M / n) from
    ``seed``; with M <= n all M frames. Unvisited state: empty int64 array (no error).
    """
    if state not in STATES + (OTHER,):
        raise ValueError(f"unknown state {state!r}; expected one of {STATES + (OTHER,)}")
    idx = np.flatnonzero(np.asarray(states) == state).astype(np.int64)
    n = int(n)
    if n <= 0 or len(idx) == 0:
        return np.zeros(0, dtype=np.int64)
    return idx[evenly_spaced(len(idx), n, seed)]


def all_native_contacts(ca_folded: np.ndarray, cutoff_A: float = 8.0, min_seq_sep: int = 4) -> np.ndarray:
    """(K, 2) every native Cα pair i < j with ``j − i >= min_seq_sep`` closer than ``cutoff_A`` in the
    folded structure: the contacts of the fraction of native contacts Q."""
    ca = np.asarray(ca_folded, dtype=np.float64)
    i, j = np.triu_indices(len(ca), int(min_seq_sep))
    keep = np.linalg.norm(ca[i] - ca[j], axis=-1) < float(cutoff_A)
    return np.stack([i[keep], j[keep]], 1).astype(np.int64)


def folding_events(q: np.ndarray, trajectory: np.ndarray | None = None, formed: float = 0.7,
                   broken: float = 0.3) -> np.ndarray:
    """Folding and unfolding events per trajectory: transitions between the folded core (Q >= ``formed``)
    and the unfolded core (Q <= ``broken``) of each trajectory's time-ordered Q series, the last core
    visited deciding (recrossings of the barrier region between the cores do not count). ``trajectory``
    (F,) labels the frames (frames of one trajectory in time order); None = one trajectory."""
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    traj = np.zeros(len(q), np.int64) if trajectory is None else np.asarray(trajectory).reshape(-1)
    if len(traj) != len(q):
        raise ValueError(f"trajectory labels ({len(traj)}) and Q ({len(q)}) differ in length")
    out = []
    for t in np.unique(traj):
        core = np.where(q[traj == t] >= formed, 1, np.where(q[traj == t] <= broken, 0, -1))
        core = core[core >= 0]
        out.append(int(np.count_nonzero(core[1:] != core[:-1])))
    return np.asarray(out, dtype=np.int64)


def state_table(states) -> dict[str, int]:
    """Number of frames per state, ``F``, ``U``, ``P1``, ``P2`` and ``other`` (in that order)."""
    states = np.asarray(states)
    return {s: int(np.count_nonzero(states == s)) for s in STATES + (OTHER,)}
