"""``protein_ca``: the Cα prior of the protein stage (NTL9), fitted by Boltzmann inversion.

All energies in kcal/mol, lengths in Å, angles in radians. The topology comes from the dataset's
``bonds`` (bead pairs; a single chain gives (i, i+1)):

* **bonds** — every bond (i, j): ``U = k (r − r0)² + V0``;
* **angles** — every path j–i–k of length 2 in the bond graph, θ at the middle bead, harmonic in
  cos θ: ``U = k (cos θ − c0)² + V0``;
* **dihedrals** — every path i–j–k–l of length 3 (Cα pseudo-dihedrals), signed (IUPAC sign, via
  atan2; an ideal right-handed α-helix has φ ≈ +50°) so that the prior carries chirality:
  ``U = V0 + Σ_{n=1..n_terms} (k1_n sin nφ + k2_n cos nφ)``;
* **repulsion** — every pair whose bond-graph distance is ≥ 3 (beyond the angle range; beads in
  different chains included): ``U = k_rep · relu(σ − r)³``.

Parameters are shared per bead-type tuple (types = the dataset's ``z``), in canonical orientation:
the tuple or its reverse, whichever is lexicographically smaller (as in the mlcg package; every term
is symmetric under reversing its beads).

Fitting (:meth:`ProteinCAPrior.fit`, training frames only, ``kT = 0.0019872041 · T``):

* bonded terms by Boltzmann inversion, ``−kT ln p`` of the histogram of all samples of a type tuple
  (all instances × training frames). Harmonic terms (:func:`fit_harmonic`): a quadratic fit weighted
  by the bin counts (inverse variance of ``ln p``), iterated to the Poisson maximum likelihood of the
  bin counts (removes the small-count bias of the plain fit); the bond histogram is divided by the r²
  Jacobian (cos θ and φ have a flat Jacobian). When there are fewer than
  :data:`MIN_HIST_SAMPLES` samples or 5 populated bins, or the fit is not convex or puts its
  minimum outside the sampled range, the Gaussian moments are used instead: ``x0 = mean``
  (bonds: ``mean − 2 var/mean``, the r² Jacobian's shift), ``k = kT / (2 var)``, so k > 0 always.
  Dihedrals (:func:`fit_fourier`): weighted (by counts) linear least squares of ``−kT ln p(φ)``
  over the bins, linear in (V0, k1_n, k2_n). Empty bins take part with a pseudocount (``params``
  ``pseudocount``, default 0.5, as count and as weight): with every bin populated this is exactly the
  fit over populated bins, but where the samples cover only a narrow range of φ (a helix seen in
  folded frames only) a fit over populated bins alone extrapolates freely and can put its deepest
  well in the empty region — even at the mirror image's angle (measured: a 5° wide helix sample
  gave V(−50°) 63 kcal/mol *below* V(+50°)); the pseudocount keeps the unsampled region above the
  sampled one. ``pseudocount: 0`` restores the plain fit over populated bins (the highest
  harmonics are then dropped where fewer than 1 + 2 n_terms bins are populated).
* repulsion: σ of a type pair = the smallest distance of that pair type among non-bonded pairs in
  the training frames (so the repulsion is zero on all training data).

Types not seen in training (``with_types``, e.g. after a mutation changes a bead's type): a bonded
type tuple never seen gets the parameters fitted on *all* instances of its term pooled together (at
most 2,000,000 evenly strided samples); a non-bonded type pair never seen gets the smallest σ over
all seen pairs. Both fallbacks are stored in the model file.

``params`` (config ``systems.<name>.prior`` without ``kind``): ``k_rep`` (kcal/mol/Å³, default
20.0), ``n_terms`` (Fourier terms of the dihedrals, default 2: smooth enough to be safe where the
data are sparse, enough to carry the chirality and the helix/strand preference; the network learns
the rest), ``n_bins`` (dihedral histogram bins over [−π, π); default ``clip(√n, 12, 60)`` for n
samples of a type tuple), ``n_bins_harmonic`` (bond and cos θ bins over the sampled range;
default ``clip(√n / 2, 8, 100)``) and ``pseudocount`` (empty dihedral bins, default 0.5; see above).

Parameters are per-instance buffers gathered from the per-type tables, created in float64; the
owner's ``.to(device, dtype)`` casts them, and ``forward`` casts them to the dtype of ``pos`` where
they differ. Periodic boxes are not supported (``box`` must be None).
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict

import numpy as np
import torch

from .base import Prior, register

KB_KCAL_PER_MOL_K = 0.0019872041
#: below this many samples a harmonic term is fitted by its Gaussian moments
MIN_HIST_SAMPLES = 50
VAR_FLOOR = 1e-10
DEFAULT_PARAMS = {"k_rep": 20.0, "n_terms": 2, "n_bins": None, "n_bins_harmonic": None, "pseudocount": 0.5}
TERMS = ("bond", "angle", "dihedral", "repulsion")
_CHUNK_FRAMES = 2048
#: the pooled fallback fits use at most this many samples (evenly strided)
_MAX_POOLED = 2_000_000


# ----------------------------------------------------------------------------------- topology

def canonical(types) -> tuple[int, ...]:
    """The type tuple or its reverse, whichever is lexicographically smaller."""
    t = tuple(int(x) for x in types)
    return min(t, t[::-1])


def topology(bonds, n_beads: int) -> dict[str, np.ndarray]:
    """Bonds (n_b, 2), angles (n_a, 3, middle bead in the middle), dihedrals (n_d, 4) and
    non-bonded pairs (n_p, 2, bond-graph distance ≥ 3) of a bond graph on ``n_beads`` beads."""
    b = np.asarray(bonds if bonds is not None else np.zeros((0, 2)), dtype=np.int64).reshape(-1, 2)
    if len(b) and (b.min() < 0 or b.max() >= n_beads):
        raise ValueError(f"bonds must index the {n_beads} beads, got indices {b.min()}..{b.max()}")
    if np.any(b[:, 0] == b[:, 1]):
        raise ValueError("a bond joins a bead to itself")
    adj = [set() for _ in range(n_beads)]
    for i, j in b:
        adj[i].add(int(j))
        adj[j].add(int(i))
    bond_list = sorted({(min(int(i), int(j)), max(int(i), int(j))) for i, j in b})
    angles = [(a, j, c) for j in range(n_beads) for ia, a in enumerate(sorted(adj[j]))
              for c in sorted(adj[j])[ia + 1:]]
    # each undirected path i-j-k-l is generated once, from its central bond (j, k) with j < k
    dihedrals = sorted({(i, j, k, l) for j, k in bond_list for i in adj[j] - {k} for l in adj[k] - {j}
                        if i != l})
    dist = np.full((n_beads, n_beads), np.iinfo(np.int64).max, dtype=np.int64)
    for s in range(n_beads):  # breadth-first search from every bead
        dist[s, s] = 0
        front = [s]
        while front:
            nxt = []
            for u in front:
                for v in adj[u]:
                    if dist[s, v] > dist[s, u] + 1:
                        dist[s, v] = dist[s, u] + 1
                        nxt.append(v)
            front = nxt
    iu, ju = np.triu_indices(n_beads, k=1)
    far = dist[iu, ju] >= 3
    return {"bonds": np.array(bond_list, dtype=np.int64).reshape(-1, 2),
            "angles": np.array(angles, dtype=np.int64).reshape(-1, 3),
            "dihedrals": np.array(dihedrals, dtype=np.int64).reshape(-1, 4),
            "pairs": np.stack([iu[far], ju[far]], axis=1).astype(np.int64).reshape(-1, 2)}


# ----------------------------------------------------------------------------------- geometry

def _select(pos: torch.Tensor, idx: torch.Tensor) -> list[torch.Tensor]:
    """Positions (B, M, 3) of each column of ``idx`` (M, k): ``index_select`` per column is several
    times faster (forward and backward) than advanced indexing ``pos[:, idx]``."""
    return [pos.index_select(1, col) for col in idx.unbind(1)]


def distances(pos: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """|pos[j] − pos[i]| (B, M) for index pairs ``idx`` (M, 2)."""
    a, b = _select(pos, idx)
    return torch.linalg.vector_norm(b - a, dim=-1)


def cos_angles(pos: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """cos θ (B, M) of triplets ``idx`` (M, 3), θ at the middle bead."""
    p0, p1, p2 = _select(pos, idx)
    a = p0 - p1
    c = p2 - p1
    return (a * c).sum(-1) / (torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(c, dim=-1))


def dihedral_angles(pos: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Signed dihedral φ ∈ (−π, π] (B, M) of quadruplets ``idx`` (M, 4), IUPAC sign convention:
    ``atan2(|b2| b1·(b2×b3), (b1×b2)·(b2×b3))`` with ``b_k = p_k − p_{k−1}``."""
    p0, p1, p2, p3 = _select(pos, idx)
    b1 = p1 - p0
    b2 = p2 - p1
    b3 = p3 - p2
    n2 = torch.linalg.cross(b2, b3, dim=-1)
    x = (torch.linalg.cross(b1, b2, dim=-1) * n2).sum(-1)
    y = (b1 * n2).sum(-1) * torch.linalg.vector_norm(b2, dim=-1)
    return torch.atan2(y, x)


# ----------------------------------------------------------------------------------- fitting

def _finite_samples(x, term: str) -> np.ndarray:
    """The finite samples of ``x`` as a flat float64 array (at least one)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError(f"no samples to fit a {term} prior term")
    return x


def fit_harmonic(x, kT: float, n_bins: int | None = None, jacobian_power: int = 0) -> dict:
    """Boltzmann inversion of samples ``x`` into ``U = k (x − x0)² + V0`` (see the module docstring).

    ``jacobian_power`` 2 for bond lengths (the histogram is divided by r²). Returns ``{"x0", "k",
    "V0", "n_samples", "method"}`` with method "histogram" or "moments"; k > 0 always.

    The histogram fit: ``−kT ln p`` is quadratic, i.e. the expected bin counts are
    ``λ_i = n Δ J(x_i) exp(β0 + β1 u_i + β2 u_i²)`` (u standardised). A count-weighted least-squares
    fit of ``ln(counts)`` is biased where counts are small (empty tail bins drop out, ln of a small
    count is biased low): −2 % in k at 20,000 samples. It is therefore iterated to the Poisson
    maximum likelihood (IRLS: weighted least squares with weights λ_i, all bins of the sampled range
    included), which removes that bias.
    """
    x = _finite_samples(x, "harmonic")
    n = int(x.size)
    mean = float(x.mean())
    var = max(float(x.var()), VAR_FLOOR)
    x0m = mean - jacobian_power * var / mean if jacobian_power and mean > 0 else mean
    moments = {"x0": x0m, "k": kT / (2.0 * var),
               "V0": 0.5 * kT * math.log(2 * math.pi * var)
               + (jacobian_power * kT * math.log(abs(x0m)) if jacobian_power and x0m != 0 else 0.0),
               "n_samples": n, "method": "moments"}
    lo, hi = float(x.min()), float(x.max())
    if n < MIN_HIST_SAMPLES or hi - lo <= 0:
        return moments
    nb = int(n_bins) if n_bins else int(np.clip(round(math.sqrt(n) / 2), 8, 100))
    counts, edges = np.histogram(x, bins=nb, range=(lo, hi))
    centers = 0.5 * (edges[1:] + edges[:-1])
    if (counts > 0).sum() < 5 or (jacobian_power and np.any(centers <= 0)):
        return moments
    s = math.sqrt(var)
    u = (centers - mean) / s  # standardised abscissa: a well-conditioned fit
    A = np.stack([np.ones_like(u), u, u * u], axis=1)
    log_jac = jacobian_power * np.log(centers) if jacobian_power else 0.0
    offset = math.log(n * (edges[1] - edges[0])) + log_jac
    c = counts.astype(np.float64)

    def loglik(beta):
        eta = offset + A @ beta
        return float(c @ eta - np.exp(eta).sum())

    # start: the Gaussian of the moments; then IRLS (Newton) steps with step halving
    b0 = -math.log(s * math.sqrt(2 * math.pi)) - (jacobian_power * math.log(x0m) if jacobian_power else 0.0)
    beta = np.array([b0, (mean - x0m) / s, -0.5])
    ll = loglik(beta)
    for _ in range(100):
        lam = np.maximum(np.exp(np.clip(offset + A @ beta, -700.0, 700.0)), 1e-300)
        w = np.sqrt(lam)
        z = A @ beta + (c - lam) / lam
        step = np.linalg.lstsq(A * w[:, None], z * w, rcond=None)[0] - beta
        if not np.all(np.isfinite(step)):
            break
        for _ in range(30):
            new = beta + step
            ll_new = loglik(new) if np.all(np.isfinite(new)) else -np.inf
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            step = step / 2
        else:
            break
        beta, ll_old, ll = new, ll, ll_new
        if np.max(np.abs(step)) < 1e-10 or abs(ll - ll_old) < 1e-13 * abs(ll):
            break
    a, b, c0 = -kT * beta[2], -kT * beta[1], -kT * beta[0]
    if not (a > 0 and np.all(np.isfinite(beta))):
        return moments
    x0 = mean - b / (2 * a) * s
    if not lo <= x0 <= hi:
        return moments
    return {"x0": float(x0), "k": float(a / var), "V0": float(c0 - b * b / (4 * a)), "n_samples": n,
            "method": "histogram"}


def fit_fourier(phi, kT: float, n_terms: int = 2, n_bins: int | None = None,
                pseudocount: float = 0.5) -> dict:
    """Boltzmann inversion of dihedral samples ``phi`` (radians) into
    ``U = V0 + Σ_{n=1..n_terms} (k1_n sin nφ + k2_n cos nφ)``: least squares of ``−kT ln p`` per
    bin, weighted by the bin counts. Empty bins enter with ``pseudocount`` (as count and weight;
    0 leaves them out). Returns ``{"V0", "k1", "k2", "n_samples", "method"}`` (k1, k2 lists of
    length ``n_terms``)."""
    phi = _finite_samples(phi, "dihedral")
    n = int(phi.size)
    phi = np.mod(phi + np.pi, 2 * np.pi) - np.pi
    nb = int(n_bins) if n_bins else int(np.clip(round(math.sqrt(n)), 12, 60))
    counts, edges = np.histogram(phi, bins=nb, range=(-np.pi, np.pi))
    centers = 0.5 * (edges[1:] + edges[:-1])
    m = counts > 0 if pseudocount <= 0 else np.ones(nb, dtype=bool)
    c = np.where(counts > 0, counts, pseudocount)[m].astype(np.float64)
    y = -kT * np.log(c / (n * (edges[1] - edges[0])))
    T = int(min(n_terms, (int(m.sum()) - 1) // 2))
    cols = [np.ones_like(centers[m])]
    cols += [np.sin(j * centers[m]) for j in range(1, T + 1)]
    cols += [np.cos(j * centers[m]) for j in range(1, T + 1)]
    A = np.stack(cols, axis=1)
    w = np.sqrt(c)
    sol = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)[0]
    k1 = np.zeros(n_terms)
    k2 = np.zeros(n_terms)
    k1[:T] = sol[1:1 + T]
    k2[:T] = sol[1 + T:1 + 2 * T]
    return {"V0": float(sol[0]), "k1": k1.tolist(), "k2": k2.tolist(), "n_samples": n,
            "method": "histogram" if T == n_terms else f"histogram ({T} terms)"}


def _pooled(x: np.ndarray) -> np.ndarray:
    x = x.reshape(-1)
    return x[::-(-x.size // _MAX_POOLED)]


def _groups(types: np.ndarray) -> dict[tuple, list[int]]:
    g = defaultdict(list)
    for col, t in enumerate(types):
        g[canonical(t)].append(col)
    return dict(sorted(g.items()))


def _type_label(types) -> str:
    from ..core.residues import NAME_OF_TYPE

    return "-".join(NAME_OF_TYPE.get(int(t), str(int(t))) for t in types)


# ----------------------------------------------------------------------------------- the prior

@register
class ProteinCAPrior(Prior):
    """Cα protein prior (bonds, angles, dihedrals, non-bonded repulsion); see the module docstring.

    ``tables`` (the JSON form kept in model files): for each term in :data:`TERMS` a dict with
    ``entries`` (list of ``{"types": [...], <parameters>, "n_samples", "method"}``, types canonical)
    and ``default`` (the fallback parameters for unseen type tuples, or None).
    """

    kind = "protein_ca"

    def __init__(self, z, bonds, tables: dict, n_terms: int = 2, k_rep: float = 20.0,
                 temperature_K: float | None = None, fit_params: dict | None = None):
        super().__init__()
        self._z = [int(t) for t in np.asarray(z).reshape(-1)]
        self._bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2).tolist()
        self._tables = copy.deepcopy(tables)
        self.n_terms = int(n_terms)
        self.k_rep = float(k_rep)
        self.temperature_K = None if temperature_K is None else float(temperature_K)
        self.fit_params = dict(fit_params or {})
        topo = topology(self._bonds, len(self._z))
        z = np.asarray(self._z, dtype=np.int64)
        fdt = torch.float64  # full precision until the owner casts (.to(dtype)); forward casts if needed

        def buf(name, values, dtype=fdt):
            self.register_buffer(name, torch.as_tensor(np.asarray(values), dtype=dtype), persistent=False)

        def params_of(term, idx, keys):
            table = {tuple(e["types"]): e for e in tables[term]["entries"]}
            default = tables[term].get("default")
            rows = []
            for inst in idx:
                e = table.get(canonical(z[inst]), default)
                if e is None:
                    raise ValueError(f"protein_ca prior: no {term} parameters for bead types "
                                     f"{_type_label(z[inst])} and no fallback")
                rows.append([e[k] for k in keys])
            return rows

        buf("bond_idx", topo["bonds"], torch.long)
        bp = np.asarray(params_of("bond", topo["bonds"], ("x0", "k", "V0")), np.float64).reshape(-1, 3)
        buf("bond_r0", bp[:, 0])
        buf("bond_k", bp[:, 1])
        buf("bond_V0", bp[:, 2])

        buf("angle_idx", topo["angles"], torch.long)
        ap = np.asarray(params_of("angle", topo["angles"], ("x0", "k", "V0")), np.float64).reshape(-1, 3)
        buf("angle_c0", ap[:, 0])
        buf("angle_k", ap[:, 1])
        buf("angle_V0", ap[:, 2])

        buf("dihedral_idx", topo["dihedrals"], torch.long)
        dp = params_of("dihedral", topo["dihedrals"], ("V0", "k1", "k2"))
        T = self.n_terms
        buf("dihedral_V0", np.array([r[0] for r in dp], np.float64).reshape(-1))
        buf("dihedral_k1", np.array([r[1] for r in dp], np.float64).reshape(-1, T))
        buf("dihedral_k2", np.array([r[2] for r in dp], np.float64).reshape(-1, T))
        buf("dihedral_n", np.arange(1, T + 1, dtype=np.float64))

        buf("pair_idx", topo["pairs"], torch.long)
        buf("pair_sigma", np.asarray(params_of("repulsion", topo["pairs"], ("sigma",)),
                                     np.float64).reshape(-1))
        buf("dist_idx", np.concatenate([topo["bonds"], topo["pairs"]]).reshape(-1, 2), torch.long)
        buf("V0_total", np.float64(bp[:, 2].sum() + ap[:, 2].sum() + sum(r[0] for r in dp)))

    # ---------------------------------------------------------------- energy
    @property
    def n_beads(self) -> int:
        return len(self._z)

    def forward(self, pos: torch.Tensor, box: torch.Tensor | None = None) -> torch.Tensor:
        if box is not None:
            raise ValueError("the protein_ca prior supports open boundaries only (box must be None)")
        if pos.dim() != 3 or pos.shape[1:] != (self.n_beads, 3):
            raise ValueError(f"protein_ca prior expects positions (B, {self.n_beads}, 3), "
                             f"got {tuple(pos.shape)}")

        def p(t):
            return t if t.dtype == pos.dtype and t.device == pos.device else t.to(pos)

        nb = self.bond_idx.shape[0]
        d = distances(pos, self.dist_idx)  # bonds and non-bonded pairs in one pass
        e = (p(self.bond_k) * (d[:, :nb] - p(self.bond_r0)).square()).sum(-1)
        e = e + self.k_rep * torch.relu(p(self.pair_sigma) - d[:, nb:]).pow(3).sum(-1)
        c = cos_angles(pos, self.angle_idx)
        e = e + (p(self.angle_k) * (c - p(self.angle_c0)).square()).sum(-1)
        if self.dihedral_idx.shape[0]:
            nphi = dihedral_angles(pos, self.dihedral_idx).unsqueeze(-1) * p(self.dihedral_n)
            v = p(self.dihedral_k1) * torch.sin(nphi) + p(self.dihedral_k2) * torch.cos(nphi)
            e = e + v.sum((-1, -2))
        return e + p(self.V0_total)

    def term_energies(self, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        """Energies (B,) of each term separately (V0 included), for diagnostics."""
        b = {k: v.to(pos) if v.is_floating_point() else v for k, v in self.named_buffers()}
        r = distances(pos, self.bond_idx)
        out = {"bond": (b["bond_k"] * (r - b["bond_r0"]) ** 2 + b["bond_V0"]).sum(-1)}
        c = cos_angles(pos, self.angle_idx)
        out["angle"] = (b["angle_k"] * (c - b["angle_c0"]) ** 2 + b["angle_V0"]).sum(-1)
        nphi = dihedral_angles(pos, self.dihedral_idx).unsqueeze(-1) * b["dihedral_n"]
        out["dihedral"] = ((b["dihedral_k1"] * torch.sin(nphi) + b["dihedral_k2"] * torch.cos(nphi)).sum(-1)
                           + b["dihedral_V0"]).sum(-1)
        d = distances(pos, self.pair_idx)
        out["repulsion"] = self.k_rep * (torch.relu(b["pair_sigma"] - d) ** 3).sum(-1)
        return out

    def with_types(self, z) -> "ProteinCAPrior":
        """The same fitted tables applied to new bead types (e.g. a mutant); unseen type tuples get
        the fallbacks described in the module docstring."""
        z = np.asarray(z).reshape(-1)
        if len(z) != self.n_beads:
            raise ValueError(f"expected {self.n_beads} bead types, got {len(z)}")
        return type(self)(z, self._bonds, self._tables, self.n_terms, self.k_rep, self.temperature_K,
                          self.fit_params).to(self.bond_r0)

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict:
        return {"version": 1, "z": list(self._z), "bonds": [list(b) for b in self._bonds],
                "n_terms": self.n_terms, "k_rep": self.k_rep, "temperature_K": self.temperature_K,
                "fit_params": dict(self.fit_params), "tables": copy.deepcopy(self._tables)}

    @classmethod
    def from_dict(cls, d: dict) -> "ProteinCAPrior":
        if int(d.get("version", 1)) != 1:
            raise ValueError(f"protein_ca prior: unsupported version {d.get('version')!r}")
        return cls(d["z"], d["bonds"], d["tables"], n_terms=d["n_terms"], k_rep=d["k_rep"],
                   temperature_K=d.get("temperature_K"), fit_params=d.get("fit_params"))

    def describe(self) -> list[dict]:
        names = {"bond": ("r0", "k", "V0"), "angle": ("c0", "k", "V0")}
        rows = []
        for term in TERMS:
            for e in self._tables[term]["entries"]:
                if term in names:
                    par = dict(zip(names[term], (e["x0"], e["k"], e["V0"])))
                    if term == "angle":
                        par["theta0_deg"] = math.degrees(math.acos(min(1.0, max(-1.0, e["x0"]))))
                elif term == "dihedral":
                    par = {"V0": e["V0"], "k1": list(e["k1"]), "k2": list(e["k2"])}
                else:
                    par = {"sigma": e["sigma"], "k_rep": self.k_rep}
                par["method"] = e.get("method", "minimum")  # how it was fitted ("moments": fallback)
                rows.append({"term": term, "types": _type_label(e["types"]), "params": par,
                             "n_samples": int(e["n_samples"])})
        return rows

    # ---------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, data: dict, params: dict, temperature_K: float) -> "ProteinCAPrior":
        unknown = sorted(set(params) - set(DEFAULT_PARAMS))
        if unknown:
            raise ValueError(f"protein_ca prior: unknown parameter(s) {unknown}; "
                             f"known: {sorted(DEFAULT_PARAMS)}")
        par = {**DEFAULT_PARAMS, **params}
        k_rep, n_terms = float(par["k_rep"]), int(par["n_terms"])
        if k_rep < 0 or n_terms < 1:
            raise ValueError(f"protein_ca prior: need k_rep >= 0 and n_terms >= 1, got {k_rep}, {n_terms}")
        for key in ("n_bins", "n_bins_harmonic"):
            if par[key] is not None and int(par[key]) < 3:
                raise ValueError(f"protein_ca prior: {key} must be >= 3 or null, got {par[key]}")
        pc = float(par["pseudocount"])
        if pc < 0:
            raise ValueError(f"protein_ca prior: pseudocount must be >= 0, got {pc}")
        if not temperature_K or temperature_K <= 0:
            raise ValueError(f"protein_ca prior: temperature must be positive, got {temperature_K}")
        if bool(np.asarray(data.get("periodic", False))):
            raise ValueError("protein_ca prior: the dataset is periodic; this prior needs open boundaries")
        if data.get("bonds") is None:
            raise ValueError("protein_ca prior: the dataset has no 'bonds' (the chain topology)")
        kT = KB_KCAL_PER_MOL_K * float(temperature_K)
        z = np.asarray(data["z"], dtype=np.int64).reshape(-1)
        coords = data["coords"]
        train = np.asarray(data["train_idx"], dtype=np.int64).reshape(-1)
        if len(train) == 0:
            raise ValueError("protein_ca prior: no training frames to fit on")
        topo = topology(data["bonds"], len(z))
        idx = {k: torch.as_tensor(v) for k, v in topo.items()}

        # internal coordinates of the training frames, chunked (datasets can hold millions of frames);
        # written into preallocated float32 arrays (appending chunks fragments the heap: RSS grew by
        # ~10x the data size in a test)
        F = len(train)
        funcs = {"bond": (distances, "bonds"), "angle": (cos_angles, "angles"),
                 "dihedral": (dihedral_angles, "dihedrals")}
        X = {term: np.empty((F, len(topo[key])), dtype=np.float32) for term, (_, key) in funcs.items()}
        dmin = np.full(len(topo["pairs"]), np.inf)
        with torch.no_grad():
            for s in range(0, F, _CHUNK_FRAMES):
                pos = torch.as_tensor(np.asarray(coords[train[s:s + _CHUNK_FRAMES]], dtype=np.float64))
                for term, (fn, key) in funcs.items():
                    if X[term].shape[1]:
                        X[term][s:s + _CHUNK_FRAMES] = fn(pos, idx[key]).numpy()
                if len(topo["pairs"]):
                    np.minimum(dmin, distances(pos, idx["pairs"]).amin(0).numpy(), out=dmin)

        def harmonic(x, jac):
            r = fit_harmonic(x, kT, par["n_bins_harmonic"], jacobian_power=jac)
            return {"x0": r["x0"], "k": r["k"], "V0": r["V0"], "n_samples": r["n_samples"],
                    "method": r["method"]}

        tables = {}
        for term, key, jac in (("bond", "bonds", 2), ("angle", "angles", 0)):
            groups = _groups(z[topo[key]])
            tables[term] = {
                "entries": [{"types": list(t), **harmonic(X[term][:, cols], jac)}
                            for t, cols in groups.items()],
                "default": harmonic(_pooled(X[term]), jac) if groups else None}
        groups = _groups(z[topo["dihedrals"]])
        tables["dihedral"] = {
            "entries": [{"types": list(t),
                         **fit_fourier(X["dihedral"][:, cols], kT, n_terms, par["n_bins"], pc)}
                        for t, cols in groups.items()],
            "default": fit_fourier(_pooled(X["dihedral"]), kT, n_terms, par["n_bins"], pc) if groups else None}
        groups = _groups(z[topo["pairs"]])
        entries = [{"types": list(t), "sigma": float(dmin[cols].min()), "n_samples": F * len(cols),
                    "method": "minimum"} for t, cols in groups.items()]
        tables["repulsion"] = {"entries": entries,
                               "default": {"sigma": min(e["sigma"] for e in entries)} if entries else None}
        fit_params = {"k_rep": k_rep, "n_terms": n_terms, "n_bins": par["n_bins"],
                      "n_bins_harmonic": par["n_bins_harmonic"], "pseudocount": pc, "n_train_frames": F}
        return cls(z, topo["bonds"], tables, n_terms=n_terms, k_rep=k_rep, temperature_K=temperature_K,
                   fit_params=fit_params)
