"""TICA free-energy surfaces (cgexplain.analysis.tica): features, trajectory splitting, TICA, FES, persistence."""

import math

import numpy as np
import pytest
from cgexplain.analysis.tica import (
    KB_KCAL,
    TicaModel,
    ca_distance_features,
    fit_tica,
    free_energy,
    load_tica,
    project,
    save_tica,
    shared_edges,
    split_trajectories,
)


def _jump_process_data(seed=0, n_traj=4, length=4000, dwell=200, n_fast=5):
    """Hidden s(t) = ±1 switching every ~``dwell`` steps + fast AR(1) noise, mixed by a random rotation."""
    rng = np.random.default_rng(seed)
    hidden, slow = [], []
    for _ in range(n_traj):
        flips = rng.random(length) < 1.0 / dwell
        s = np.where(np.cumsum(flips) % 2 == 0, 1.0, -1.0) * rng.choice([-1.0, 1.0])
        noise = np.zeros((length, n_fast))
        eps = rng.normal(size=(length, n_fast)) * 1.5  # larger variance than s: PCA would miss it
        for t in range(1, length):
            noise[t] = 0.5 * noise[t - 1] + eps[t]
        hidden.append(np.column_stack([s, noise]))
        slow.append(s)
    q, _ = np.linalg.qr(rng.normal(size=(n_fast + 1, n_fast + 1)))
    X = np.concatenate(hidden) @ q.T + rng.normal(size=n_fast + 1)  # rotation + offset
    replica = np.repeat(np.arange(n_traj), length)
    return X, np.concatenate(slow), replica


@pytest.fixture(scope="module")
def jump():
    X, s, replica = _jump_process_data()
    model = fit_tica(X, split_trajectories(len(X), replica), lag=10, dim=2)
    return X, s, replica, model


def test_tica_recovers_slow_coordinate(jump):
    X, s, _, model = jump
    proj = project(model, X)
    assert proj.shape == (len(X), 2) and proj.dtype == np.float64
    assert abs(np.corrcoef(proj[:, 0], s)[0, 1]) > 0.95
    assert abs(np.corrcoef(proj[:, 1], s)[0, 1]) < 0.3
    assert model.eigenvalues[0] > 0.8 > model.eigenvalues[1]  # slow (~exp(-2·10/200)) vs fast
    assert model.timescales[0] > model.timescales[1]
    np.testing.assert_allclose(model.timescales, -10 / np.log(np.abs(model.eigenvalues)))


def test_matches_deeptime_fit_on_list_and_signs_are_deterministic(jump):
    from deeptime.decomposition import TICA

    X, _, replica, model = jump
    trajs = split_trajectories(len(X), replica)
    ref = TICA(lagtime=10, dim=2).fit([X[s] for s in trajs]).fetch_model()
    np.testing.assert_allclose(model.eigenvalues, ref.singular_values[:2], rtol=1e-8)
    ours, theirs = project(model, X), ref.transform(X)
    for k in range(2):  # equal up to the sign of each component
        sign = np.sign(ours[:, k] @ theirs[:, k])
        np.testing.assert_allclose(ours[:, k], sign * theirs[:, k], atol=1e-8)
    # largest-magnitude loading of each component is positive
    C = model.components
    assert np.all(C[np.abs(C).argmax(0), [0, 1]] > 0)
    # a bare deeptime model is projected with the same convention
    np.testing.assert_allclose(project(ref, X), ours, atol=1e-8)
    # chunking of the covariance accumulation does not change the result
    small = fit_tica(X, trajs, lag=10, dim=2, chunk=777)
    np.testing.assert_allclose(small.components, model.components, atol=1e-10)


def test_trajectory_boundaries_short_trajectories_and_lag_errors():
    X, _, replica = _jump_process_data(seed=1, n_traj=2, length=1500)
    trajs = split_trajectories(len(X), replica)
    m = fit_tica(X, trajs, lag=10)
    # a trajectory shorter than lag + 1 frames is skipped (identical model)
    extra = np.concatenate([X, X[:5] * 100.0])
    m2 = fit_tica(extra, trajs + [slice(len(X), len(X) + 5)], lag=10)
    np.testing.assert_allclose(m2.components, m.components, atol=1e-12)
    # whereas one long trajectory adds the pairs across the joint: a (slightly) different estimate
    m3 = fit_tica(X, [slice(0, len(X))], lag=10)
    assert not np.allclose(m3.components, m.components, rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match=r"lag 50.*longest.*30 frames"):
        fit_tica(X, [slice(0, 30), slice(30, 50)], lag=50)


def test_save_load_roundtrip(jump, tmp_path):
    X, _, _, model = jump
    path = save_tica(tmp_path / "sub" / "tica.npz", model, lag=10, min_separation=3)
    assert path.exists() and not list(path.parent.glob("*.tmp*"))
    loaded = load_tica(path)
    assert isinstance(loaded, TicaModel) and loaded.koopman is None
    assert loaded.lag == 10 and loaded.min_separation == 3 and loaded.scaling == "kinetic_map"
    np.testing.assert_array_equal(project(loaded, X), project(model, X))
    np.testing.assert_array_equal(loaded.timescales, model.timescales)
    with pytest.raises(ValueError, match="lag"):
        save_tica(tmp_path / "bad.npz", model, lag=20, min_separation=3)
    with pytest.raises(ValueError, match=r"shape \(F, 6\)"):
        project(loaded, X[:, :5])


def test_ca_distance_features_matches_double_loop():
    rng = np.random.default_rng(3)
    coords = rng.normal(scale=5.0, size=(7, 8, 3)).astype(np.float32)
    feats = ca_distance_features(coords, min_separation=3, chunk=3)
    expected = []
    for f in range(len(coords)):
        row = []
        for i in range(8):
            for j in range(i + 3, 8):
                row.append(np.sqrt(np.sum((coords[f, i].astype(float) - coords[f, j]) ** 2)))
        expected.append(row)
    expected = np.array(expected)
    assert feats.dtype == np.float32 and feats.shape == expected.shape == (7, 15)
    np.testing.assert_allclose(feats, expected, rtol=1e-6)
    assert ca_distance_features(np.zeros((2, 39, 3)), min_separation=3).shape == (2, 666)


def test_split_trajectories():
    assert split_trajectories(6, np.array([0, 0, 1, 1, 1, 0])) == [slice(0, 2), slice(2, 5), slice(5, 6)]
    assert split_trajectories(4, None) == [slice(0, 4)]
    with pytest.raises(ValueError):
        split_trajectories(5, np.zeros(4))


def test_free_energy_gaussian_min_nan_and_weights():
    rng = np.random.default_rng(4)
    kT = KB_KCAL * 300.0
    pts = rng.normal(size=(200_000, 2))
    edges = (np.linspace(-4, 4, 41), np.linspace(-4, 4, 41))
    F = free_energy(pts, edges, kT)
    assert F.shape == (40, 40)
    assert np.nanmin(F) == 0.0
    counts, _, _ = np.histogram2d(pts[:, 0], pts[:, 1], bins=edges)
    assert np.array_equal(np.isnan(F), counts == 0) and np.isnan(F).any()

    def bin_prob(ix, iy):  # exact probability of a bin of the standard normal
        cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
        px = cdf(edges[0][ix + 1]) - cdf(edges[0][ix])
        py = cdf(edges[1][iy + 1]) - cdf(edges[1][iy])
        return px * py

    b1, b2 = (20, 20), (27, 22)  # x≈0.1, y≈0.1 and x≈1.5, y≈0.5
    expected = -kT * math.log(bin_prob(*b2) / bin_prob(*b1))
    assert F[b2] - F[b1] == pytest.approx(expected, abs=0.2 * kT)
    assert expected > 1.0 * kT  # the check is not trivially satisfied

    # weights: doubling a subset's weight == duplicating those frames
    few = pts[:2000]
    w = np.where(few[:, 0] > 0, 2.0, 1.0)
    dup = np.concatenate([few, few[few[:, 0] > 0]])
    np.testing.assert_allclose(free_energy(few, edges, kT, weights=w), free_energy(dup, edges, kT),
                               equal_nan=True, atol=1e-12)


def test_shared_edges_cover_all_projections():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(100, 2)), rng.normal(loc=3.0, size=(50, 3))
    xe, ye = shared_edges(a, b, bins=30, pad=0.05)
    assert len(xe) == len(ye) == 31
    both = np.concatenate([a, b[:, :2]])
    assert xe[0] < both[:, 0].min() and xe[-1] > both[:, 0].max()
    assert ye[0] < both[:, 1].min() and ye[-1] > both[:, 1].max()
    np.testing.assert_allclose(xe[-1] - xe[0], 1.1 * np.ptp(both[:, 0]))
    F = free_energy(b, (xe, ye), kT=1.0)
    assert np.nanmin(F) == 0.0 and np.isnan(F).any()
