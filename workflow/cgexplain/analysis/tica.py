"""Free-energy surface of a Cα protein on TICA coordinates (paper Figure 4).

TICA is fitted on the *reference* data only; reference and CG frames are then projected on the same
two components and compared as free energies F = −kT ln p (kcal/mol) on shared bins.

Pipeline::

    X_ref = ca_distance_features(ref["coords"], min_separation=3)          # (F, K) f4
    trajs = split_trajectories(len(X_ref), ref.get("replica"))             # list of slices
    model = fit_tica(X_ref, trajs, lag=lag, dim=2)
    save_tica("tica.npz", model, lag, 3)                                    # reference components
    ...
    model = load_tica("tica.npz")                                           # later rule
    X_cg = ca_distance_features(traj["coords"].reshape(-1, N, 3), model.min_separation)
    p_ref, p_cg = project(model, X_ref), project(model, X_cg)             # (F, 2) f8
    edges = shared_edges(p_ref, p_cg, bins=60)
    F_ref = free_energy(p_ref, edges, kT=KB_KCAL * T)                       # (60, 60), NaN = empty

API
---
``ca_distance_features(coords, min_separation=3, chunk=20000) -> (F, K) float32``
    Cα–Cα distances (Å) of all pairs (i, j) with ``j − i >= min_separation``, in the order of
    ``np.triu_indices(N, k=min_separation)`` (i ascending, then j). K = (N − s)(N − s + 1)/2:
    **K = 666 for N = 39, s = 3**. Computed in float64 per chunk of frames, returned as float32.
    CG trajectories (R, F, N, 3) are featurised as ``coords.reshape(-1, N, 3)`` (projection is
    instantaneous, so replica boundaries do not matter there).
``split_trajectories(n_frames, replica) -> list[slice]``
    Contiguous runs of equal ``replica`` label (the dataset's optional (F,) key), one slice each,
    in frame order; ``[slice(0, n_frames)]`` when ``replica`` is None. A label that reappears
    after another one starts a new trajectory (``[0,0,1,1,1,0]`` → three slices).
``fit_tica(features, trajectories, lag, dim=2, scaling="kinetic_map") -> TicaModel``
    deeptime TICA at lag time ``lag`` (frames) on the given time-ordered trajectories; pairs
    (x_t, x_{t+lag}) never straddle two trajectories. Trajectories with fewer than ``lag + 1``
    frames are skipped; if none is long enough a ValueError names ``lag`` and the longest
    trajectory. The covariances are accumulated trajectory by trajectory in chunks
    (``TICA.partial_fit``), so memory stays bounded for long reference data.
``project(model, features, chunk=100000) -> (F, dim) float64``
    ``(features − mean) @ components``. Accepts a :class:`TicaModel` (from :func:`fit_tica` or
    :func:`load_tica`) or a bare deeptime ``CovarianceKoopmanModel`` (converted with the same
    sign convention).
``free_energy(proj, edges, kT, weights=None) -> (nx, ny)``
    2D histogram of the first two columns of ``proj`` on ``edges`` (optionally weighted),
    p = probability density per bin, F = −kT ln p shifted so that min F = 0; NaN in empty bins.
    Frames outside the edges are ignored. ``kT`` in kcal/mol (``KB_KCAL * T``).
``shared_edges(*projs, bins=60, pad=0.05) -> (x_edges, y_edges)``
    ``bins + 1`` equally spaced edges per axis covering all (finite) points of all given
    projections, padded by ``pad`` × range on each side.
``save_tica(path, model, lag, min_separation)`` / ``load_tica(path) -> TicaModel``
    Small npz (written atomically: ``<name>.tmp.npz`` then rename) holding

    ==================  ============  ===========================================================
    key                 shape         meaning
    ==================  ============  ===========================================================
    mean                (K,) f8       feature mean removed before projecting
    components          (K, dim) f8   projection matrix (signs fixed, scaling applied)
    eigenvalues         (dim,) f8     TICA eigenvalues (autocorrelations at ``lag``)
    timescales          (dim,) f8     implied timescales −lag / ln|λ| in frames
    lag                 () i8         lag time in frames of the reference data
    min_separation      () i8         feature definition (``ca_distance_features``)
    scaling             () str        deeptime scaling ("kinetic_map", "commute_map" or "none")
    ==================  ============  ===========================================================

    so that a later rule projects CG trajectories with exactly the reference's components.

Sign convention: TICA components are defined up to sign. Each column of ``components`` is
multiplied by ±1 so that its largest-magnitude loading is positive (ties: the first such
feature). The convention is applied once, at :func:`fit_tica`, and stored.

Scaling: deeptime's default ``kinetic_map`` (each whitened component multiplied by its eigenvalue)
is used, so the projections have variance λ_i² on the reference data; pass ``scaling=None`` for
unit-variance components.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

KB_KCAL = 0.0019872041  # kcal/mol/K

__all__ = ["KB_KCAL", "TicaModel", "ca_distance_features", "split_trajectories", "fit_tica", "project",
           "free_energy", "shared_edges", "save_tica", "load_tica"]


@dataclass
class TicaModel:
    """A fitted TICA projection: ``(x − mean) @ components``.

    ``koopman`` is deeptime's fitted ``CovarianceKoopmanModel`` (None after :func:`load_tica`); its
    own ``transform`` may differ from :func:`project` in the signs of the components.
    """

    mean: np.ndarray  # (K,)
    components: np.ndarray  # (K, dim)
    eigenvalues: np.ndarray  # (dim,)
    timescales: np.ndarray  # (dim,) frames
    lag: int
    min_separation: int | None = None
    scaling: str = "kinetic_map"
    koopman: Any = field(default=None, repr=False, compare=False)

    @property
    def dim(self) -> int:
        return self.components.shape[1]

    @property
    def n_features(self) -> int:
        return self.components.shape[0]


# ----------------------------------------------------------------------------------------------
# features and trajectories


def pair_indices(n_beads: int, min_separation: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (i, j) of the pairs with ``j − i >= min_separation`` (order of ``np.triu_indices``)."""
    if min_separation < 1:
        raise ValueError(f"min_separation must be >= 1, got {min_separation}")
    return np.triu_indices(n_beads, k=min_separation)


def ca_distance_features(coords: np.ndarray, min_separation: int = 3, chunk: int = 20000) -> np.ndarray:
    """(F, N, 3) Å → (F, K) float32 distances of pairs j − i >= min_separation (K = 666 for N = 39, s = 3)."""
    coords = np.asarray(coords)
    if coords.ndim != 3 or coords.shape[2] != 3:
        raise ValueError(f"coords must have shape (F, N, 3), got {coords.shape}")
    F, N, _ = coords.shape
    i, j = pair_indices(N, min_separation)
    if len(i) == 0:
        raise ValueError(f"no bead pairs with separation >= {min_separation} in a chain of {N} beads")
    chunk = max(1, int(chunk))
    out = np.empty((F, len(i)), dtype=np.float32)
    for start in range(0, F, chunk):
        x = np.asarray(coords[start:start + chunk], dtype=np.float64)
        d2 = np.zeros((len(x), len(i)))
        for c in range(3):
            d2 += (x[:, j, c] - x[:, i, c]) ** 2
        out[start:start + len(x)] = np.sqrt(d2)
    return out


def split_trajectories(n_frames: int, replica: np.ndarray | None) -> list[slice]:
    """Contiguous runs of equal replica label → slices (``[slice(0, n_frames)]`` when replica is None)."""
    n_frames = int(n_frames)
    if replica is None:
        return [slice(0, n_frames)] if n_frames > 0 else []
    replica = np.asarray(replica)
    if replica.shape != (n_frames,):
        raise ValueError(f"replica must have shape ({n_frames},), got {replica.shape}")
    if n_frames == 0:
        return []
    breaks = np.flatnonzero(replica[1:] != replica[:-1]) + 1
    bounds = np.concatenate([[0], breaks, [n_frames]])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


# ----------------------------------------------------------------------------------------------
# TICA


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Flip each column so that its largest-magnitude entry is positive."""
    components = np.array(components, dtype=np.float64, copy=True)
    if components.size:
        rows = np.argmax(np.abs(components), axis=0)
        signs = np.sign(components[rows, np.arange(components.shape[1])])
        signs[signs == 0] = 1.0
        components *= signs[None, :]
    return components


def _from_koopman(koopman, lag: int | None = None, min_separation: int | None = None,
                  scaling: str | None = None) -> TicaModel:
    """A :class:`TicaModel` (sign convention applied) from deeptime's CovarianceKoopmanModel."""
    dim = int(koopman.output_dimension)
    components = _fix_signs(np.asarray(koopman.instantaneous_coefficients)[:, :dim])
    cov = koopman.cov
    mean = np.asarray(cov.mean_0, dtype=np.float64) if cov.data_mean_removed else np.zeros(len(components))
    lag = int(koopman.lagtime if lag is None else lag)
    eigenvalues = np.real(np.asarray(koopman.singular_values, dtype=np.complex128)[:dim]).astype(np.float64)
    with np.errstate(divide="ignore"):
        timescales = -lag / np.log(np.abs(eigenvalues))
    scaling = koopman.scaling if scaling is None else scaling
    return TicaModel(mean=mean, components=components, eigenvalues=eigenvalues, timescales=timescales,
                     lag=lag, min_separation=min_separation, scaling=str(scaling or "none"), koopman=koopman)


def fit_tica(features: np.ndarray, trajectories: list[slice], lag: int, dim: int = 2,
             scaling: str | None = "kinetic_map", chunk: int = 100000,
             min_separation: int | None = None) -> TicaModel:
    """deeptime TICA at ``lag`` frames fitted on the time-ordered ``trajectories`` (slices of ``features``).

    Trajectories shorter than ``lag + 1`` frames are skipped; a ValueError names ``lag`` and the
    longest trajectory when none is long enough. Returns a :class:`TicaModel` (signs fixed, see
    the module docstring) holding deeptime's model as ``koopman``.
    """
    from deeptime.decomposition import TICA

    lag, dim = int(lag), int(dim)
    if lag < 1:
        raise ValueError(f"TICA lag must be >= 1 frame, got {lag}")
    if dim < 1:
        raise ValueError(f"TICA dim must be >= 1, got {dim}")
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must have shape (F, K), got {features.shape}")
    lengths = [len(range(*s.indices(len(features)))) for s in trajectories]
    usable = [s for s, n in zip(trajectories, lengths) if n >= lag + 1]
    if not usable:
        longest = max(lengths, default=0)
        raise ValueError(f"TICA lag {lag} frames needs a trajectory of at least {lag + 1} frames; "
                         f"the longest of the {len(trajectories)} trajectories has {longest} frames")
    if features.shape[1] < dim:
        raise ValueError(f"TICA dim={dim} exceeds the number of features {features.shape[1]}")

    est = TICA(lagtime=lag, dim=dim, scaling=scaling)
    chunk = max(1, int(chunk))
    for s in usable:
        traj = features[s]
        n_pairs = len(traj) - lag
        for a in range(0, n_pairs, chunk):
            b = min(a + chunk, n_pairs)
            x = np.asarray(traj[a:b], dtype=np.float64)
            y = np.asarray(traj[a + lag:b + lag], dtype=np.float64)
            est.partial_fit((x, y))
    koopman = est.fetch_model()
    if koopman.output_dimension < dim:
        raise ValueError(f"TICA found only {koopman.output_dimension} numerically independent components "
                         f"(asked for dim={dim}); are the features (near-)constant?")
    return _from_koopman(koopman, lag=lag, min_separation=min_separation, scaling=scaling)


def _as_tica_model(model) -> TicaModel:
    if isinstance(model, TicaModel):
        return model
    if hasattr(model, "instantaneous_coefficients") and hasattr(model, "cov"):
        return _from_koopman(model)
    if hasattr(model, "fetch_model"):  # a fitted deeptime estimator
        return _from_koopman(model.fetch_model())
    raise TypeError(f"project() needs a TicaModel (fit_tica/load_tica) or a deeptime TICA model, "
                    f"got {type(model).__name__}")


def project(model, features: np.ndarray, chunk: int = 100000) -> np.ndarray:
    """(F, K) features → (F, dim) float64 TICA coordinates ``(x − mean) @ components``."""
    m = _as_tica_model(model)
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != m.n_features:
        raise ValueError(f"features must have shape (F, {m.n_features}) for this TICA model, "
                         f"got {features.shape}")
    out = np.empty((len(features), m.dim), dtype=np.float64)
    chunk = max(1, int(chunk))
    for a in range(0, len(features), chunk):
        x = np.asarray(features[a:a + chunk], dtype=np.float64)
        out[a:a + len(x)] = (x - m.mean) @ m.components
    return out


# ----------------------------------------------------------------------------------------------
# free energy


def shared_edges(*projs, bins: int = 60, pad: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Common 2D bin edges (``bins + 1`` per axis) covering the first two columns of all ``projs``."""
    if not projs:
        raise ValueError("shared_edges needs at least one projection")
    bins = int(bins)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
    for p in projs:
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] < 2:
            raise ValueError(f"projections must have shape (F, >=2), got {p.shape}")
        for k in range(2):
            v = p[:, k][np.isfinite(p[:, k])]
            if len(v):
                lo[k], hi[k] = min(lo[k], v.min()), max(hi[k], v.max())
    if not np.all(np.isfinite(lo)):
        raise ValueError("shared_edges: no finite points in the given projections")
    edges = []
    for k in range(2):
        width = hi[k] - lo[k]
        margin = pad * width if width > 0 else 0.5 * max(abs(lo[k]), 1.0)
        edges.append(np.linspace(lo[k] - margin, hi[k] + margin, bins + 1))
    return edges[0], edges[1]


def free_energy(proj: np.ndarray, edges: tuple[np.ndarray, np.ndarray], kT: float,
                weights=None) -> np.ndarray:
    """(nx, ny) free energy −kT ln p on ``edges`` (min 0, NaN in empty bins); kT in kcal/mol."""
    proj = np.asarray(proj, dtype=np.float64)
    if proj.ndim != 2 or proj.shape[1] < 2:
        raise ValueError(f"proj must have shape (F, >=2), got {proj.shape}")
    if not kT > 0:
        raise ValueError(f"kT must be > 0 (kcal/mol), got {kT}")
    xe, ye = (np.asarray(e, dtype=np.float64) for e in edges)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(proj),):
            raise ValueError(f"weights must have shape ({len(proj)},), got {weights.shape}")
        if np.any(weights < 0):
            raise ValueError("weights must be non-negative")
    H, _, _ = np.histogram2d(proj[:, 0], proj[:, 1], bins=(xe, ye), weights=weights)
    total = H.sum()
    if not total > 0:
        raise ValueError("free_energy: no frame (or no weight) falls inside the bins")
    area = np.diff(xe)[:, None] * np.diff(ye)[None, :]
    density = H / (total * area)
    F = np.full(H.shape, np.nan)
    filled = H > 0
    F[filled] = -kT * np.log(density[filled])
    F -= np.nanmin(F)
    return F


# ----------------------------------------------------------------------------------------------
# persistence


def save_tica(path, model, lag: int, min_separation: int) -> Path:
    """Write the projection of ``model`` (see the module docstring) atomically; returns the path."""
    m = _as_tica_model(model)
    lag, min_separation = int(lag), int(min_separation)
    if m.lag != lag:
        raise ValueError(f"save_tica: lag {lag} differs from the model's lag {m.lag}")
    if m.min_separation is not None and int(m.min_separation) != min_separation:
        raise ValueError(f"save_tica: min_separation {min_separation} differs from the model's "
                         f"{m.min_separation}")
    from ..core.runtime import save_npz

    return save_npz(path, mean=np.asarray(m.mean, np.float64), components=np.asarray(m.components, np.float64),
                    eigenvalues=np.asarray(m.eigenvalues, np.float64),
                    timescales=np.asarray(m.timescales, np.float64), lag=np.int64(lag),
                    min_separation=np.int64(min_separation), scaling=np.str_(m.scaling))


def load_tica(path) -> TicaModel:
    """Read a file written by :func:`save_tica`; the result is accepted by :func:`project`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"TICA model {path} does not exist")
    with np.load(path, allow_pickle=False) as d:
        missing = [k for k in ("mean", "components", "eigenvalues", "timescales", "lag", "min_separation")
                   if k not in d.files]
        if missing:
            raise ValueError(f"{path}: not a TICA model file (missing {missing})")
        m = TicaModel(mean=d["mean"], components=d["components"], eigenvalues=d["eigenvalues"],
                      timescales=d["timescales"], lag=int(d["lag"]), min_separation=int(d["min_separation"]),
                      scaling=str(d["scaling"]) if "scaling" in d.files else "kinetic_map")
    if m.mean.shape != (m.components.shape[0],):
        raise ValueError(f"{path}: mean {m.mean.shape} does not match components {m.components.shape}")
    return m
