"""Values of the structural observables (cgexplain.analysis.observables) against analytic answers.

Figures 2, S1, S2, S3 and S7 and the README's lite table are drawn from these functions, so each is
checked here against a number known without it:

* ``rdf``: an ideal gas gives g(r) = 1 within the counting error of each bin; a simple cubic lattice
  (in an orthorhombic periodic box, shifted so that shells cross the box faces) gives peaks only in the
  bins of a, √2 a, √3 a holding 6, 12 and 8 neighbours.
* ``local_angles``: uniformly random neighbours give the density sin θ / 2; the diamond lattice (every
  bead with four neighbours at the tetrahedral angle) gives 109.47° only.
* ``tetrahedral_q``: 1 for every bead of the diamond lattice; mean 0 for an ideal gas (four random
  neighbour directions: ⟨(cos ψ + 1/3)²⟩ = 1/3 + 1/9, so q̄ = 1 − 3/8 · 6 · 4/9 = 0).
* ``triplet_histogram``: equals a brute-force count over all i < j < k written here (law of cosines on
  the minimum-image distances), on frames with unwrapped coordinates.
* ``observables``: the composed file (densities normalised per degree and per unit q) on the diamond
  lattice.

Every random input is drawn from a seeded generator. The statistical bounds are 5 standard errors,
computed in each test from the data (independent frames as blocks) or from counting statistics.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from cgexplain.analysis import observables as obs

TETRAHEDRAL = math.degrees(math.acos(-1.0 / 3.0))  # 109.4712°


def ideal_gas(rng, n_frames, n, box):
    return rng.uniform(0.0, 1.0, (n_frames, n, 3)) * np.asarray(box)


def simple_cubic(a, cells, shift=(0.0, 0.0, 0.0)):
    """Simple cubic lattice of spacing ``a`` with ``cells`` = (nx, ny, nz) sites per side, shifted."""
    g = np.stack(np.meshgrid(*[np.arange(c) for c in cells], indexing="ij"), -1).reshape(-1, 3)
    return g * a + np.asarray(shift), np.asarray(cells, float) * a


def diamond(a, cells):
    """Diamond cubic lattice (8 sites per conventional cell of edge ``a``), every site with four nearest
    neighbours at distance a √3 / 4 in tetrahedral directions; periodic box of ``cells`` cells."""
    fcc = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    basis = np.concatenate([fcc, fcc + 0.25])
    g = np.stack(np.meshgrid(*[np.arange(c) for c in cells], indexing="ij"), -1).reshape(-1, 1, 3)
    return ((g + basis[None]) * a).reshape(-1, 3), np.asarray(cells, float) * a


# ------------------------------------------------------------------------------------------- rdf
def test_rdf_of_an_ideal_gas_is_one_within_counting_error():
    rng = np.random.default_rng(11)
    box, n, n_frames, r_max, n_bins = np.array([20.0, 22.0, 24.0]), 150, 30, 9.0, 30
    X = ideal_gas(rng, n_frames, n, box)
    r, g = obs.rdf(X, box, r_max, n_bins)
    edges = np.linspace(0.0, r_max, n_bins + 1)
    np.testing.assert_allclose(r, 0.5 * (edges[1:] + edges[:-1]), rtol=1e-6)
    # expected pair count per bin: frames × pairs × shell volume / box volume; g = count / expected
    expected = n_frames * n * (n - 1) / 2 * 4 / 3 * np.pi * np.diff(edges ** 3) / np.prod(box)
    sigma = 1.0 / np.sqrt(expected)  # Poisson error of each bin's count, relative
    ok = expected > 100  # the first bins hold too few pairs for a normal error
    assert ok.sum() >= n_bins - 4
    z = (g[ok] - 1.0) / sigma[ok]
    assert np.abs(z).max() < 5.0, z
    assert 0.3 < np.mean(z ** 2) < 2.5  # the scatter is counting noise, not a shape
    # all bins together: the mean of g over the outer half is 1 to the combined error
    outer = edges[1:] > r_max / 2
    assert abs(np.average(g[outer], weights=expected[outer]) - 1.0) < 5.0 / np.sqrt(expected[outer].sum())


def test_rdf_of_a_simple_cubic_lattice_has_6_12_8_neighbours_at_a_root2a_root3a():
    a = 3.03
    pos, box = simple_cubic(a, (8, 9, 10), shift=(-1.3, 0.7, 12.9))  # sites on both sides of the faces
    n = len(pos)
    r_max, n_bins = 6.0, 150
    r, g = obs.rdf(pos[None], box, r_max, n_bins)
    edges = np.linspace(0.0, r_max, n_bins + 1)
    shell = 4 / 3 * np.pi * np.diff(edges ** 3)
    # neighbours per bead in each bin (mdtraj normalises by the pair count: density (N − 1) / V)
    neighbours = g * shell * (n - 1) / np.prod(box)
    peaks = np.flatnonzero(g > 0)
    assert len(peaks) == 3, r[peaks]
    for k, (dist, cn) in zip(peaks, ((a, 6), (math.sqrt(2) * a, 12), (math.sqrt(3) * a, 8))):
        assert edges[k] <= dist < edges[k + 1] and abs(r[k] - dist) <= 0.5 * (edges[1] - edges[0]), (r[k], dist)
        assert neighbours[k] == pytest.approx(cn, rel=1e-5)


def test_rdf_refuses_a_range_beyond_half_the_box():
    pos, box = simple_cubic(3.0, (4, 4, 4))
    with pytest.raises(ValueError, match="half the smallest box"):
        obs.rdf(pos[None], box, 6.5, 10)


# ----------------------------------------------------------------------------------- local angles
def test_angles_of_uniformly_random_neighbours_follow_sin_theta_over_two():
    rng = np.random.default_rng(12)
    box, n, n_frames, shell = np.array([16.0, 17.0, 18.0]), 200, 12, 4.5
    edges = np.linspace(0.0, 180.0, 19)
    rad = np.radians(edges)
    expected = 0.5 * (np.cos(rad[:-1]) - np.cos(rad[1:]))  # ∫ sin θ / 2 dθ over each bin
    per_frame = []
    for x in ideal_gas(rng, n_frames, n, box):
        ang = obs.local_angles(x, box, shell)
        assert ang.min() >= 0.0 and ang.max() <= 180.0
        per_frame.append(np.histogram(ang, bins=edges)[0] / len(ang))
    per_frame = np.array(per_frame)
    mean = per_frame.mean(0)
    se = per_frame.std(0, ddof=1) / np.sqrt(n_frames)  # frames are independent: an honest error
    z = (mean - expected) / se
    assert np.abs(z).max() < 5.0, z
    assert np.abs(mean - expected).max() < 0.004  # and the error itself is small


def test_angles_of_the_diamond_lattice_are_tetrahedral():
    pos, box = diamond(5.0, (2, 2, 2))  # 64 beads; every bond of a face site crosses the box
    shell = 0.5 * (5.0 * math.sqrt(3) / 4 + 5.0 / math.sqrt(2))  # between the first and second shell
    ang = obs.local_angles(pos + np.array([-1.1, 0.3, 4.7]), box, shell)
    assert len(ang) == 64 * 6  # four neighbours each: six angles per bead
    np.testing.assert_allclose(ang, TETRAHEDRAL, atol=1e-6)
    # a shell that takes in the 12 second neighbours too: 16 neighbours, 120 angles per bead
    assert len(obs.local_angles(pos, box, 4.0)) == 64 * 120


# ---------------------------------------------------------------------------------- tetrahedral q
def test_tetrahedral_q_is_one_for_the_diamond_lattice():
    pos, box = diamond(5.0, (2, 2, 2))
    q = obs.tetrahedral_q(pos + np.array([2.2, -0.4, 9.1]), box)
    assert q.shape == (64,)
    np.testing.assert_allclose(q, 1.0, atol=1e-12)
    # one tetrahedron alone (open boundaries): the centre has q = 1
    tet = np.array([[0, 0, 0], [1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    assert obs.tetrahedral_q(tet, None)[0] == pytest.approx(1.0, abs=1e-12)


def test_tetrahedral_q_of_an_ideal_gas_has_mean_zero():
    rng = np.random.default_rng(13)
    box, n, n_frames = np.array([15.0, 15.0, 15.0]), 300, 12
    means, values = [], []
    for x in ideal_gas(rng, n_frames, n, box):
        q = obs.tetrahedral_q(x, box)
        means.append(q.mean())
        values.append(q)
    means = np.array(means)
    se = means.std(ddof=1) / np.sqrt(n_frames)
    assert abs(means.mean()) < 5 * se and se < 0.02, (means.mean(), se)
    q = np.concatenate(values)
    # the range of the Errington–Debenedetti q for four directions: -3 <= q <= 1, and the ideal gas fills it
    assert q.max() <= 1.0 and q.min() >= -3.0 and q.std() > 0.3


# ---------------------------------------------------------------------------------- triplets
def brute_force_triplets(pos, box, cutoff, theta_edges, L_edges):
    """Count (largest angle, longest edge) of every triplet with >= 2 pairs closer than ``cutoff``."""
    H = np.zeros((len(theta_edges) - 1, len(L_edges) - 1))
    n = len(pos)

    def dist(i, j):
        d = pos[j] - pos[i]
        d = d - box * np.round(d / box)
        return math.sqrt(float(d @ d))

    for i, j, k in itertools.combinations(range(n), 3):
        e = sorted([dist(i, j), dist(i, k), dist(j, k)])
        if sum(x < cutoff for x in e) < 2:
            continue
        a, b, L = e
        theta = math.degrees(math.acos(max(-1.0, min(1.0, (a * a + b * b - L * L) / (2 * a * b)))))
        ti = min(int((theta - theta_edges[0]) / (theta_edges[1] - theta_edges[0])), len(theta_edges) - 2)
        li = int((L - L_edges[0]) / (L_edges[1] - L_edges[0]))
        if li < len(L_edges) - 1:
            H[ti, li] += 1
    return H


def test_triplet_histogram_equals_a_brute_force_count():
    rng = np.random.default_rng(14)
    cutoff = 3.5
    boxes = np.array([[16.0, 16.0, 16.0], [16.5, 17.0, 18.0]])  # box/2 > 2 × cutoff: triangles close
    frames = np.stack([rng.uniform(-8.0, 24.0, (80, 3)) for _ in boxes])  # unwrapped coordinates
    t_edges, L_edges = np.linspace(0.0, 180.0, 19), np.linspace(0.0, 2 * cutoff, 15)
    h = obs.triplet_histogram(frames, boxes, cutoff, t_edges, L_edges)
    counts = sum(brute_force_triplets(x, b, cutoff, t_edges, L_edges) for x, b in zip(frames, boxes))
    assert counts.sum() > 300  # enough triplets to test the binning
    np.testing.assert_allclose(h, counts / counts.sum(), rtol=1e-12, atol=1e-15)
    # geometry: the largest angle of a triangle is >= 60°, its opposite edge < 2 × cutoff
    assert h[: 6].sum() == 0.0


# ------------------------------------------------------------------------------ the composed file
def test_observables_file_of_the_diamond_lattice(tmp_path):
    from cgexplain.data.dataset import write_dataset

    pos, box = diamond(5.0, (3, 3, 3))  # 216 beads, box 15 Å
    rng = np.random.default_rng(15)
    X = np.stack([(pos + rng.uniform(0, 15, 3)) % box for _ in range(3)])  # rigidly shifted copies, wrapped
    write_dataset(tmp_path / "ds.npz", coords=X, forces=np.zeros_like(X), box=np.tile(box, (3, 1)),
                  z=np.full(len(pos), 6), masses=np.full(len(pos), 12.0), train_idx=[0, 1], val_idx=[2])
    p = {"n_frames": 3, "rdf_max_A": 7.0, "rdf_bins": 70, "angle_bins": 90, "q_bins": 40, "triplet_bins": 12}
    res = obs.observables(tmp_path / "ds.npz", p, 2.8, [2.8])
    assert int(res["n_frames"]) == 3
    a_width = 180.0 / 90
    k = int(TETRAHEDRAL // a_width)
    assert res["angle_density"][k] == pytest.approx(1.0 / a_width)  # all angles in one bin, per degree
    assert res["angle_density"].sum() * a_width == pytest.approx(1.0)
    q_width = 2.0 / 40
    assert res["q_density"][-1] == pytest.approx(1.0 / q_width)  # every bead at q = 1 (the last bin)
    np.testing.assert_allclose(res["q_centres"], np.linspace(-1, 1, 41)[:-1] + q_width / 2)
    # first RDF peak: four neighbours at a √3 / 4 = 2.165 Å
    edges = np.linspace(0.0, 7.0, 71)
    nb = res["rdf_g"] * 4 / 3 * np.pi * np.diff(edges ** 3) * (len(pos) - 1) / np.prod(box)
    first = np.flatnonzero(res["rdf_g"] > 0)[0]
    assert edges[first] <= 5.0 * math.sqrt(3) / 4 < edges[first + 1] and nb[first] == pytest.approx(4.0, rel=1e-5)
    # triplets within 2.8 Å: only bond angles at the tetrahedral angle, edge a/√2 = 3.54 Å
    th = res["triplet_hist"][0]
    assert th.sum() == pytest.approx(1.0)
    t_i = int(TETRAHEDRAL // 15.0)
    l_i = int((5.0 / math.sqrt(2)) // (5.6 / 12))
    assert th[t_i, l_i] == pytest.approx(1.0)
