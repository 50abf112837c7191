"""Protein analyses behind Figures 4–7 and S11: folding states, free-energy surfaces, relevance maps.

Three commands, each writing one npz file (atomically) that the figures (:mod:`cgexplain.figures.protein`)
read:

* ``cgexplain states`` — per frame of the reference data or of a CG trajectory, the native-contact
  fractions of the β1–β2 and β1–β3 pairings and of the helix (elements from DSSP of the folded
  structure, :mod:`cgexplain.analysis.folding`) and the state (F, U, P1, P2, other); plus, for each state,
  ``sample_<state>``: up to ``n_frames_per_state`` frames spread evenly over that state's frames (the
  frames whose relevance is computed).
* ``cgexplain fes`` — TICA fitted on the reference data (:mod:`cgexplain.analysis.tica`), reference and CG
  projected on the same two components, −kT ln p on shared bins, a representative frame per state
  (the state's frame closest to the median of its projections). Keys: see
  :func:`cgexplain.figures.protein.fig4_fes`.
* ``cgexplain relevance-maps`` — per state, the mean 2-body relevance per residue pair and its standard
  error over the state's frames (a pair that no walk visits in a frame counts 0 there; NaN where no
  frame has it), the mean 3-body relevance per triplet, contact frequencies, the mutants' maps on the
  folded frames, and the prior's mean energy per term (bond, angle, dihedral, repulsion: exact 2-, 3- and
  4-body terms reported beside the network's relevance, never added to it). Also CSV tables of pairs
  and triplets.

The relevance explains U_net, the network's part of the energy; the prior is evaluated separately.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from ..core.config import load_params
from ..core.runtime import save_npz
from ..data.structure import ca_coordinates, secondary_structure
from . import folding

STATES = folding.STATES
STATE_KEYS = ("contact_cutoff_A", "contact_tolerance", "formed", "broken", "n_frames_per_state")


def load_frames(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Cα frames (M, N, 3) of a CG dataset or CG trajectory, and the trajectory label of each frame."""
    from ..data.dataset import load_frames_file

    kind, data = load_frames_file(path)  # one-line errors naming the file (cgexplain.core.errors.InputError)
    if kind == "dataset":
        return data["coords"], data.get("replica")
    t = data
    R, F = t["coords"].shape[:2]
    return t["coords"].reshape(R * F, *t["coords"].shape[2:]), np.repeat(np.arange(R), F)


# ------------------------------------------------------------------------------------------ states
def states(frames_path: Path, structure: Path, p: dict, seed: int) -> dict[str, np.ndarray]:
    """Folding state of each frame, the fraction of all native contacts Q and the folding/unfolding events
    of each trajectory (:func:`cgexplain.analysis.folding.folding_events`, cores Q >= ``formed``, <= ``broken``)."""
    coords, trajectory = load_frames(frames_path)
    elements = secondary_structure(structure)
    ca = ca_coordinates(structure)
    cut, tol = float(p["contact_cutoff_A"]), float(p["contact_tolerance"])
    contacts = {**folding.native_contacts(ca, elements, cutoff_A=cut), "all": folding.all_native_contacts(ca, cut)}
    fractions = folding.contact_fractions(coords, contacts, ca, tolerance=tol)  # one pass over the frames
    labels = folding.classify(fractions, formed=float(p["formed"]), broken=float(p["broken"]))
    out = {"labels": labels, "pairings": np.array(folding.PAIRINGS),
           "fractions": np.stack([fractions[k] for k in folding.PAIRINGS], axis=1),
           "elements_names": np.array(list(elements)), "elements_ranges": np.array(list(elements.values())),
           "ca_folded": ca}
    for s in STATES:
        out[f"sample_{s}"] = folding.sample_state_frames(labels, s, int(p["n_frames_per_state"]), seed)
    out["q_native"] = fractions["all"]
    out["trajectory"] = np.zeros(len(labels), np.int64) if trajectory is None else np.asarray(trajectory, np.int64)
    out["events"] = folding.folding_events(out["q_native"], out["trajectory"], float(p["formed"]), float(p["broken"]))
    return out


def main_states(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain states", description="Folding states of Cα frames.")
    ap.add_argument("--input", required=True, type=Path, help="CG dataset or CG trajectory")
    ap.add_argument("--structure", required=True, type=Path, help="folded all-atom structure (DSSP)")
    ap.add_argument("--params", required=True, help=f"JSON: {', '.join(STATE_KEYS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args(argv)
    p = load_params(a.params, STATE_KEYS, "protein params")
    res = states(a.input, a.structure, p, a.seed)
    save_npz(a.out, **res)
    table = folding.state_table(res["labels"])
    print(f"states of {a.input}: {table}; folding/unfolding events {int(res['events'].sum())} over "
          f"{len(res['events'])} trajectories (per trajectory {res['events'].tolist()})", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------- FES
def representative(proj: np.ndarray, labels: np.ndarray, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per state, the frame whose projection is closest to the median of that state's projections."""
    N = coords.shape[1]
    rep = np.full((len(STATES), N, 3), np.nan)
    found = np.zeros(len(STATES), bool)
    for k, s in enumerate(STATES):
        idx = np.flatnonzero(labels == s)
        if len(idx):
            med = np.median(proj[idx], axis=0)
            rep[k] = coords[idx[np.argmin(((proj[idx] - med) ** 2).sum(1))]]
            found[k] = True
    return rep, found


def fes(dataset: Path, trajectory: Path, states_aa: Path, states_cg: Path, p: dict, temperature_K: float,
        bead_names, model: str) -> dict[str, np.ndarray]:
    from . import tica

    X_aa, replica = load_frames(dataset)
    X_cg, _ = load_frames(trajectory)
    sep = int(p["tica_min_separation"])
    f_aa = tica.ca_distance_features(X_aa, sep)
    m = tica.fit_tica(f_aa, tica.split_trajectories(len(X_aa), replica), int(p["tica_lag"]), dim=2)
    proj_aa, proj_cg = tica.project(m, f_aa), tica.project(m, tica.ca_distance_features(X_cg, sep))
    ex, ey = tica.shared_edges(proj_aa, proj_cg, bins=int(p["fes_bins"]))
    kT = tica.KB_KCAL * float(temperature_K)
    with np.load(states_aa) as a, np.load(states_cg) as c:
        lab_aa, lab_cg = a["labels"], c["labels"]
    rep, found = representative(proj_aa, lab_aa, X_aa)
    return {"aa_proj": proj_aa, "cg_proj": proj_cg, "edges_x": ex, "edges_y": ey,
            "fes_aa": tica.free_energy(proj_aa, (ex, ey), kT), "fes_cg": tica.free_energy(proj_cg, (ex, ey), kT),
            "aa_states": lab_aa, "cg_states": lab_cg, "state_names": np.array(STATES), "rep_coords": rep,
            "rep_found": found, "bead_names": np.asarray(bead_names), "model": np.asarray(model),
            "tica_eigenvalues": m.eigenvalues, "tica_lag": np.asarray(m.lag), "kT": np.asarray(kT)}


def main_fes(argv: list[str] | None = None) -> int:
    from ..core.residues import type_names
    from ..data.dataset import load_dataset

    ap = argparse.ArgumentParser(prog="cgexplain fes", description="TICA free-energy surfaces, AA and CG.")
    ap.add_argument("--dataset", required=True, type=Path)
    ap.add_argument("--trajectory", required=True, type=Path)
    ap.add_argument("--states-aa", required=True, type=Path)
    ap.add_argument("--states-cg", required=True, type=Path)
    ap.add_argument("--params", required=True, help="JSON: tica_lag, tica_min_separation, fes_bins")
    ap.add_argument("--model", default="")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args(argv)
    p = load_params(a.params, ("tica_lag", "tica_min_separation", "fes_bins"), "protein params")
    data = load_dataset(a.dataset)
    res = fes(a.dataset, a.trajectory, a.states_aa, a.states_cg, p, float(data["temperature_K"]),
              type_names(data["z"]), a.model)
    save_npz(a.out, **res)
    print(f"FES: TICA eigenvalues {np.round(res['tica_eigenvalues'], 4).tolist()} at lag {p['tica_lag']}",
          file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------- relevance maps
def pair_maps(rel: dict, n_beads: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the file's frames of the 2-body relevance of every bead pair (a pair no
    walk visits in a frame counts 0 there; NaN where no frame has it, or no frames)."""
    F = len(rel["energy"])
    R = np.zeros((F, n_beads, n_beads))
    seen = np.zeros((n_beads, n_beads), bool)
    f, i, j = rel["pair_frame"].astype(int), rel["pair_i"].astype(int), rel["pair_j"].astype(int)
    R[f, i, j] = rel["pair_r"]
    R[f, j, i] = rel["pair_r"]
    seen[i, j] = seen[j, i] = True
    if F == 0:
        nan = np.full((n_beads, n_beads), np.nan)
        return nan, nan.copy()
    mean = np.where(seen, R.mean(0), np.nan)
    se = np.where(seen, R.std(0, ddof=1) / np.sqrt(F) if F > 1 else 0.0, np.nan)
    return mean, se


def triplet_means(rel: dict, trip_idx: np.ndarray) -> np.ndarray:
    """Mean 3-body relevance (over the file's frames, 0 where unvisited) of each triplet of ``trip_idx``."""
    F = len(rel["energy"])
    if F == 0:
        return np.full(len(trip_idx), np.nan)
    sums: dict[tuple, float] = {}
    for t, r in zip(zip(rel["trip_i"].tolist(), rel["trip_j"].tolist(), rel["trip_k"].tolist()), rel["trip_r"]):
        sums[t] = sums.get(t, 0.0) + float(r)
    return np.array([sums.get(tuple(t), 0.0) / F for t in trip_idx.tolist()])


def most_stabilising_in_blocks(mean2: np.ndarray, elements_ranges, k: int = 20,
                               min_sep: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most stabilising pairs of a mean 2-body map (most negative finite relevance, ``j − i >=
    min_sep``: the non-bonded pairs), as (k, 2) bead indices, and whether each lies inside a block of the
    secondary-structure elements (both beads in elements: a β–β, β–helix or helix–helix block of Figure 5)."""
    m = np.asarray(mean2, np.float64)
    i, j = np.triu_indices(len(m), int(min_sep))
    v = m[i, j]
    ok = np.isfinite(v) & (v < 0)
    order = np.argsort(v[ok], kind="stable")[:int(k)]
    pairs = np.stack([i[ok][order], j[ok][order]], 1).astype(np.int64)
    in_element = np.zeros(len(m), bool)
    for a, b in np.asarray(elements_ranges, np.int64).reshape(-1, 2):
        in_element[a:b + 1] = True
    return pairs, in_element[pairs].all(1)


def _load(path: Path) -> dict:
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def relevance_maps(dataset: Path, states_aa: Path, model: Path, state_files: dict[str, Path],
                   mutant_files: dict[str, Path], contact_cutoff_A: float) -> dict[str, np.ndarray]:
    import torch

    from ..core.residues import parse_mutation, type_names
    from ..data.dataset import load_dataset
    from ..nn.models import load_potential

    data = load_dataset(dataset)
    N = data["coords"].shape[1]
    st = _load(states_aa)
    rels = {s: _load(state_files[s]) for s in STATES}
    trips = [np.stack([r["trip_i"], r["trip_j"], r["trip_k"]], 1) for r in rels.values() if len(r["trip_r"])]
    trip_idx = np.unique(np.concatenate(trips).astype(np.int64), axis=0) if trips else np.zeros((0, 3), np.int64)
    pot = load_potential(model, dtype=torch.float64)
    prior_names = ["bond", "angle", "dihedral", "repulsion"]
    out = {"states": np.array(STATES), "n_frames": np.array([len(rels[s]["energy"]) for s in STATES]),
           "trip_idx": trip_idx, "bead_names": type_names(data["z"]), "prior_term_names": np.array(prior_names),
           "elements_names": st["elements_names"], "elements_ranges": st["elements_ranges"], "model": np.asarray(
               str(model))}
    mean2, se2, mean3, contact, prior = [], [], [], [], []
    for s in STATES:
        m, e = pair_maps(rels[s], N)
        mean2.append(m), se2.append(e), mean3.append(triplet_means(rels[s], trip_idx))
        X = data["coords"][rels[s]["frame_index"].astype(int)]
        d = np.linalg.norm(X[:, :, None] - X[:, None], axis=-1)
        contact.append((d < contact_cutoff_A).mean(0) if len(X) else np.full((N, N), np.nan))
        if len(X) and pot.prior is not None and hasattr(pot.prior, "term_energies"):
            with torch.no_grad():
                terms = pot.prior.term_energies(torch.as_tensor(X, dtype=torch.float64))
            prior.append([float(terms[k].mean()) for k in prior_names])
        else:
            prior.append([np.nan] * 4)
    out.update(mean2=np.stack(mean2), se2=np.stack(se2), mean3=np.stack(mean3), contact_freq=np.stack(contact),
               prior_terms=np.array(prior))
    F_idx = rels["F"]["frame_index"].astype(int)
    out["folded_coords"] = (data["coords"][F_idx[0]] if len(F_idx) else st["ca_folded"]).astype(np.float64)
    out["top_pairs_F"], out["top_pairs_F_in_blocks"] = most_stabilising_in_blocks(out["mean2"][0],
                                                                                st["elements_ranges"])
    names, index, mm2, ms2, mm3 = [], [], [], [], []
    for name, path in mutant_files.items():
        r = _load(path)
        m, e = pair_maps(r, N)
        names.append(name), mm2.append(m), ms2.append(e), mm3.append(triplet_means(r, trip_idx))
        index.append(parse_mutation(name, type_names(data["z"]))[0])
    out.update(mutations=np.array(names, dtype=str), mut_index=np.array(index, dtype=np.int64),
               mut_mean2=np.array(mm2).reshape(-1, N, N), mut_se2=np.array(ms2).reshape(-1, N, N),
               mut_mean3=np.array(mm3).reshape(len(names), len(trip_idx)))
    return out


def write_tables(maps: dict, pairs_csv: Path, triplets_csv: Path) -> None:
    names = maps["bead_names"]
    lab = lambda i: f"{names[i]}{i + 1}"  # noqa: E731
    N = len(names)
    iu = np.triu_indices(N, 1)
    with open(pairs_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["state", "i", "j", "residue_i", "residue_j", "mean_relevance", "standard_error", "n_frames"])
        rows = [(s, k) for k, s in enumerate(maps["states"])] + \
               [(f"mutant:{m}", None) for m in maps["mutations"]]
        for s, k in rows:
            if k is None:
                mi = list(maps["mutations"]).index(s.split(":", 1)[1])
                mean, se, n = maps["mut_mean2"][mi], maps["mut_se2"][mi], maps["n_frames"][0]
            else:
                mean, se, n = maps["mean2"][k], maps["se2"][k], maps["n_frames"][k]
            for i, j in zip(*iu):
                if np.isfinite(mean[i, j]):
                    w.writerow([s, i + 1, j + 1, lab(i), lab(j), f"{mean[i, j]:.6g}", f"{se[i, j]:.6g}", n])
    with open(triplets_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["state", "i", "j", "k", "residue_i", "residue_j", "residue_k", "mean_relevance", "n_frames"])
        for k, s in enumerate(maps["states"]):
            for t, v in zip(maps["trip_idx"], maps["mean3"][k]):
                if np.isfinite(v):
                    w.writerow([s, *(t + 1), *(lab(x) for x in t), f"{v:.6g}", maps["n_frames"][k]])


def _named(items: list[str], what: str) -> dict[str, Path]:
    out = {}
    for it in items:
        name, _, path = it.partition("=")
        if not path:
            raise ValueError(f"--{what} {it!r}: expected NAME=FILE")
        out[name] = Path(path)
    return out


def main_maps(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain relevance-maps", description="Relevance maps per state.")
    ap.add_argument("--dataset", required=True, type=Path)
    ap.add_argument("--states-aa", required=True, type=Path)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--state", nargs="+", required=True, help="STATE=relevance.npz for F, U, P1, P2")
    ap.add_argument("--mutant", nargs="*", default=[], help="MUTATION=relevance.npz (e.g. ILE4ASN=...)")
    ap.add_argument("--contact-cutoff-A", type=float, default=8.0)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--pairs-csv", required=True, type=Path)
    ap.add_argument("--triplets-csv", required=True, type=Path)
    a = ap.parse_args(argv)
    states_ = _named(a.state, "state")
    missing = [s for s in STATES if s not in states_]
    if missing:
        print(f"cgexplain relevance-maps: error: --state lacks {missing}", file=sys.stderr)
        return 2
    maps = relevance_maps(a.dataset, a.states_aa, a.model, states_, _named(a.mutant, "mutant"), a.contact_cutoff_A)
    save_npz(a.out, **maps)
    write_tables(maps, a.pairs_csv, a.triplets_csv)
    print(f"relevance maps: frames per state {dict(zip(STATES, maps['n_frames'].tolist()))}; "
          f"{int(maps['top_pairs_F_in_blocks'].sum())} of the {len(maps['top_pairs_F'])} most stabilising F pairs "
          "(|i - j| >= 4) inside the secondary-structure blocks", file=sys.stderr)
    return 0
