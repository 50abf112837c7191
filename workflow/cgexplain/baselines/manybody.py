"""Traditional many-body decomposition of a trained CG potential (isolated n-mers, no environment).

For sampled frames, every n-mer is cut out of the liquid and evaluated *alone* (open boundaries,
``box=None``): monomer energies E_i, dimer energies E_ij, trimer energies E_ijk, and

    2-body  e2_ij  = E_ij − E_i − E_j
    3-body  e3_ijk = E_ijk − e2_ij − e2_ik − e2_jk − E_i − E_j − E_k      (inclusion–exclusion)

Dimers are all pairs closer than the model cut-off (minimum image); trimers come from
:func:`cgexplain.core.geometry.connected_triplets` (at least two pairs within the cut-off), at most
``max_trimers_per_frame`` per frame drawn with the seed. An n-mer is unwrapped around a centre bead
(for a trimer the bead within the cut-off of both others), so its geometry is the one a
message-passing walk sees. n-mers of equal size and bead types are evaluated as one batch.

``--truth SYSTEM`` (with ``--params`` and ``--cutoff``) decomposes the exact energy of a ground-truth system
instead of a network (:class:`TruthPotential`): for mW water the answer is known in closed form (2-body =
φ2(r), 3-body = the φ3 terms of the trimer's centres), which the S4 figure draws beside the networks'.

Output ``.npz`` (energies kcal/mol, lengths Å, angles degrees):
  ``frames`` (F,)                  dataset frame indices used
  ``monomer_e`` (F, N)             E_i
  ``pair_frame``, ``pair_i``, ``pair_j``, ``pair_r``, ``pair_e2`` (P,)
  ``trimer_frame`` (T,), ``trimer_idx`` (T, 3), ``trimer_theta`` (largest angle), ``trimer_L``
      (edge opposite it), ``trimer_a`` ≤ ``trimer_b`` (adjacent edges), ``trimer_e3`` (T,)
  ``r_edges``, ``r_centres``, ``e2_mean``, ``e2_std``, ``e2_count``           2-body vs distance
  ``theta_edges``, ``L_edges``, ``e3_mean`` (nθ, nL), ``e3_count`` (nθ, nL)   3-body vs (θ, L)
  ``theta_centres``, ``e3_theta_mean``, ``L_centres``, ``e3_L_mean``         3-body marginals
  ``scan_r``, ``scan_e2``          2-body energy of one isolated dimer on a regular distance grid
  ``cutoff`` (Å), ``model`` (path), ``seed``
Bins without samples hold NaN in the means.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..core.binning import binned_mean, binned_mean_2d
from ..core.geometry import connected_triplets, minimum_image, triangle_geometry
from ..core.runtime import log
from ..data.sampling import evenly_spaced


@contextlib.contextmanager
def bead_types(pot, z):
    """Temporarily give ``pot`` the bead types ``z`` of an n-mer (for models with a ``z`` buffer)."""
    old = getattr(pot, "z", None)
    if not isinstance(old, torch.Tensor):
        yield
        return
    pot.z = torch.as_tensor(np.asarray(z), dtype=old.dtype, device=old.device)
    try:
        yield
    finally:
        pot.z = old


def nmer_energies(pot, pos: np.ndarray, z: np.ndarray, batch_size: int = 512,
                  device="cpu", dtype=torch.float64) -> np.ndarray:
    """Energies (B,) of isolated n-mers ``pos`` (B, n, 3) Å with bead types ``z`` (B, n)."""
    pos = np.asarray(pos, dtype=np.float64)
    z = np.asarray(z).reshape(len(pos), -1)
    out = np.empty(len(pos))
    if len(pos) == 0:
        return out
    keys, inverse = np.unique(z, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    with torch.no_grad():
        for k, zk in enumerate(keys):
            sel = np.flatnonzero(inverse == k)
            with bead_types(pot, zk):
                for s in range(0, len(sel), batch_size):
                    idx = sel[s:s + batch_size]
                    x = torch.as_tensor(pos[idx], dtype=dtype, device=device)
                    out[idx] = pot.energy(x, None).detach().cpu().double().numpy().reshape(-1)
    return out


def unwrap_trimers(pos: np.ndarray, box, tri: np.ndarray, cutoff: float) -> np.ndarray:
    """(T, 3, 3) positions of each trimer around its centre (a bead near both others)."""
    p = pos[tri]  # (T, 3, 3)
    best = np.zeros(len(tri), dtype=int)
    score = np.full(len(tri), np.inf)
    for c in range(3):
        o1, o2 = (c + 1) % 3, (c + 2) % 3
        d1 = np.linalg.norm(minimum_image(p[:, o1] - p[:, c], box), axis=-1)
        d2 = np.linalg.norm(minimum_image(p[:, o2] - p[:, c], box), axis=-1)
        s = np.maximum(d1, d2)  # the centre with the smallest larger distance is within the cut-off
        better = s < score
        best[better], score[better] = c, s[better]
    out = np.empty_like(p)
    rows = np.arange(len(tri))
    centre = p[rows, best]
    for k in range(3):
        out[:, k] = centre + minimum_image(p[:, k] - centre, box)
    return out


def decompose_frame(pot, pos: np.ndarray, box, z: np.ndarray, cutoff: float, max_trimers: int,
                    rng: np.random.Generator, batch_size: int = 512, device="cpu",
                    dtype=torch.float64) -> dict:
    """Many-body terms of one configuration ``pos`` (N, 3) Å in ``box`` (3,) Å or None."""
    pos = np.asarray(pos, dtype=np.float64)
    z = np.asarray(z)
    N = len(pos)
    kw = dict(batch_size=batch_size, device=device, dtype=dtype)
    # monomers
    e1 = nmer_energies(pot, np.zeros((N, 1, 3)), z[:, None], **kw)
    # dimers within the cut-off
    d = minimum_image(pos[None, :, :] - pos[:, None, :], box)
    dm = np.sqrt((d * d).sum(-1))
    i, j = np.triu_indices(N, k=1)
    keep = dm[i, j] < cutoff
    i, j = i[keep], j[keep]
    dim = np.stack([pos[i], pos[i] + d[i, j]], axis=1)
    e_ij = nmer_energies(pot, dim, np.stack([z[i], z[j]], 1), **kw)
    e2 = e_ij - e1[i] - e1[j]
    # trimers
    tri = connected_triplets(pos, box, cutoff)
    if max_trimers is not None and len(tri) > max_trimers:
        tri = tri[np.sort(rng.choice(len(tri), size=max_trimers, replace=False))]
    if len(tri):
        tp = unwrap_trimers(pos, box, tri, cutoff)
        e_ijk = nmer_energies(pot, tp, z[tri], **kw)
        pairs = [(0, 1), (0, 2), (1, 2)]
        dims = np.concatenate([tp[:, [a, b]] for a, b in pairs])
        zd = np.concatenate([z[tri][:, [a, b]] for a, b in pairs])
        e_pairs = nmer_energies(pot, dims, zd, **kw).reshape(3, len(tri))
        e1t = e1[tri]  # (T, 3)
        e2t = np.stack([e_pairs[k] - e1t[:, a] - e1t[:, b] for k, (a, b) in enumerate(pairs)])
        e3 = e_ijk - e2t.sum(0) - e1t.sum(1)
        geo = triangle_geometry(tp.reshape(-1, 3), None, np.arange(3 * len(tri)).reshape(-1, 3))
    else:
        e3 = np.zeros(0)
        geo = triangle_geometry(pos, None, np.zeros((0, 3), int))
    return {"monomer_e": e1, "pair_i": i, "pair_j": j, "pair_r": dm[i, j], "pair_e2": e2,
            "trimer_idx": tri.reshape(-1, 3), "trimer_e3": e3, "trimer_theta": geo["theta"],
            "trimer_L": geo["L"], "trimer_a": geo["a"], "trimer_b": geo["b"]}


class TruthPotential:
    """The exact energy of a ground-truth system (:meth:`cgexplain.systems.System.truth_model`, e.g. mW
    water) behind the ``energy(x, box)`` interface that :func:`nmer_energies` calls: each isolated n-mer is
    placed in a box far larger than it (open boundaries in effect) and its terms are summed
    (:func:`cgexplain.systems.groundtruth.decompose`). The decomposition of the truth is then exact:
    for mW, 2-body = φ2(r), 3-body = the φ3 terms of the trimer's centres."""

    BOX_A = 1000.0

    def __init__(self, system: str, cfg: dict, cutoff: float):
        self.system, self.cfg, self.cutoff = system, dict(cfg), float(cutoff)
        self._models: dict[int, object] = {}

    def _model(self, n: int):
        from ..analysis.truth import truth_model

        if n not in self._models:
            self._models[n] = truth_model(self.system, self.cfg, n, np.full(3, self.BOX_A))
        return self._models[n]

    def energy(self, x, box=None):
        from ..systems.groundtruth import decompose as exact

        xs = x.detach().cpu().double().numpy()
        big = np.full(3, self.BOX_A)
        e = [exact(self._model(len(xi)), xi - xi.mean(0) + 0.5 * self.BOX_A, big).total for xi in xs]
        return torch.as_tensor(np.asarray(e, np.float64), dtype=x.dtype, device=x.device)


def dimer_scan(pot, z_pair, r_grid, **kw) -> np.ndarray:
    """2-body energy E(r) − E_i − E_j of one isolated dimer along x."""
    dim = np.zeros((len(r_grid), 2, 3))
    dim[:, 1, 0] = r_grid
    e_ij = nmer_energies(pot, dim, np.tile(np.asarray(z_pair), (len(r_grid), 1)), **kw)
    e1 = nmer_energies(pot, np.zeros((2, 1, 3)), np.asarray(z_pair)[:, None], **kw)
    return e_ij - e1.sum()


def decompose(pot, coords: np.ndarray, boxes, z, cutoff: float, max_trimers: int, seed: int = 0,
              r_bins: int = 75, theta_bins: int = 50, L_bins: int = 50, r_min: float = 0.0,
              batch_size: int = 512, device="cpu", dtype=torch.float64) -> dict:
    """Decompose every frame of ``coords`` (F, N, 3) Å; ``boxes`` (F, 3), (3,) Å or None."""
    rng = np.random.default_rng(seed)
    coords = np.asarray(coords, dtype=np.float64)
    F = len(coords)
    per = []
    for f in range(F):
        box = None if boxes is None else np.asarray(boxes, float).reshape(-1, 3)[min(f, len(np.asarray(boxes).reshape(-1, 3)) - 1)]
        t0 = time.time()
        per.append(decompose_frame(pot, coords[f], box, z, cutoff, max_trimers, rng, batch_size, device, dtype))
        log(f"frame {f + 1}/{F}: {len(per[-1]['pair_e2'])} dimers, {len(per[-1]['trimer_e3'])} trimers "
            f"({time.time() - t0:.1f} s)")
    cat = lambda k: np.concatenate([p[k] for p in per]) if per else np.zeros(0)
    out = {
        "monomer_e": np.stack([p["monomer_e"] for p in per]),
        "pair_frame": np.concatenate([np.full(len(p["pair_e2"]), f) for f, p in enumerate(per)]),
        "trimer_frame": np.concatenate([np.full(len(p["trimer_e3"]), f) for f, p in enumerate(per)]),
        "trimer_idx": np.concatenate([p["trimer_idx"] for p in per]).reshape(-1, 3),
    }
    for k in ("pair_i", "pair_j", "pair_r", "pair_e2", "trimer_e3", "trimer_theta", "trimer_L",
              "trimer_a", "trimer_b"):
        out[k] = cat(k)
    r_edges = np.linspace(r_min, cutoff, r_bins + 1)
    out["r_edges"], out["r_centres"] = r_edges, 0.5 * (r_edges[1:] + r_edges[:-1])
    out["e2_mean"], out["e2_std"], out["e2_count"] = binned_mean(out["pair_r"], out["pair_e2"], r_edges)
    th_edges = np.linspace(60.0, 180.0, theta_bins + 1)  # the largest angle of a triangle is ≥ 60°
    L_edges = np.linspace(0.0, 2.0 * cutoff, L_bins + 1)
    out["theta_edges"], out["L_edges"] = th_edges, L_edges
    out["e3_mean"], out["e3_count"] = binned_mean_2d(out["trimer_theta"], out["trimer_L"], out["trimer_e3"],
                                                     th_edges, L_edges)
    out["theta_centres"] = 0.5 * (th_edges[1:] + th_edges[:-1])
    out["L_centres"] = 0.5 * (L_edges[1:] + L_edges[:-1])
    out["e3_theta_mean"] = binned_mean(out["trimer_theta"], out["trimer_e3"], th_edges)[0]
    out["e3_L_mean"] = binned_mean(out["trimer_L"], out["trimer_e3"], L_edges)[0]
    z = np.asarray(z)
    out["scan_r"] = np.linspace(max(r_min, 0.5), cutoff, 200)
    out["scan_e2"] = dimer_scan(pot, z[:2], out["scan_r"], batch_size=batch_size, device=device, dtype=dtype)
    out["cutoff"] = float(cutoff)
    out["seed"] = int(seed)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cgexplain manybody", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="model.pt written by cgexplain train")
    src.add_argument("--truth", metavar="SYSTEM",
                     help="decompose the exact energy of a ground-truth system instead (e.g. mw_water)")
    p.add_argument("--params", default="{}", help="--truth: JSON, the system's config block")
    p.add_argument("--cutoff", type=float, help="--truth: dimer/trimer cutoff (Å), e.g. the models' largest")
    p.add_argument("--dataset", required=True, help="CG dataset npz (coords Å, box Å, z)")
    p.add_argument("--out", required=True, help="output npz")
    p.add_argument("--n-frames", type=int, default=20)
    p.add_argument("--max-trimers-per-frame", type=int, default=2000)
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--r-bins", type=int, default=75)
    p.add_argument("--theta-bins", type=int, default=50)
    p.add_argument("--L-bins", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    from ..core.device import describe, pick_device
    from ..nn.models import load_potential

    if a.truth:  # numpy energies: CPU, float64
        import json

        from ..core.errors import InputError

        if a.cutoff is None or a.cutoff <= 0:
            raise InputError("--truth needs --cutoff (Å, > 0): the range of the dimers and trimers")
        device, dtype = torch.device("cpu"), torch.float64
        pot = TruthPotential(a.truth, json.loads(a.params), a.cutoff)
    else:
        device, dtype = pick_device(a.device), getattr(torch, a.dtype)
        pot = load_potential(a.model, device, dtype)
    log(describe(device, dtype), "manybody")
    from ..data.dataset import load_dataset

    d = load_dataset(a.dataset)
    coords, box, z = d["coords"], d["box"], d["z"]
    n_all = len(coords)
    frames = evenly_spaced(n_all, a.n_frames, a.seed)
    boxes = np.broadcast_to(np.asarray(box, float).reshape(-1, 3), (n_all, 3))[frames]
    t0 = time.time()
    res = decompose(pot, coords[frames], boxes, z, pot.cutoff, a.max_trimers_per_frame, a.seed,
                    a.r_bins, a.theta_bins, a.L_bins, batch_size=a.batch_size, device=device, dtype=dtype)
    res["frames"] = frames
    res["model"] = str(a.model or f"truth:{a.truth}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, **res)
    tmp.replace(out)
    log(f"{len(frames)} frames, {len(res['pair_e2'])} dimers, {len(res['trimer_e3'])} trimers in "
        f"{time.time() - t0:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
