"""Baseline figures S1/S3/S4 render from small synthetic inputs (PDF + PNG)."""

from __future__ import annotations

import numpy as np
import torch
from cgexplain.baselines import manybody
from cgexplain.figures import baselines as plots
from test_manybody import RC, PairSum, liquid


def _obs(path, shift):
    r = np.linspace(0.05, 9.95, 100)
    a = np.linspace(1, 179, 90)
    q = np.linspace(-0.99, 0.99, 100)
    np.savez(path, rdf_r=r, rdf_g=1 + np.exp(-(r - 4 - shift) ** 2), angle_centres=a,
             angle_density=np.exp(-(a - 60 - 10 * shift) ** 2 / 200) / 25, q_centres=q,
             q_density=np.exp(-(q - 0.5) ** 2 / 0.1))


def test_s1_and_s3(tmp_path):
    args = []
    for system in ("methane", "water"):
        for k, src in enumerate(("aa", "imc", "painn", "so3net", "schnet")):
            _obs(tmp_path / f"{system}_{src}.npz", 0.1 * k)
            args += ["--input", system, src, str(tmp_path / f"{system}_{src}.npz")]
    assert plots.main(["--figure", "S1", "--out", str(tmp_path / "fig" / "S1.pdf")] + args) == 0
    assert (tmp_path / "fig" / "S1.pdf").stat().st_size > 1000
    assert (tmp_path / "fig" / "S1.png").stat().st_size > 1000


def test_s4_with_and_without_relevance(tmp_path):
    pos, box = liquid()
    res = manybody.decompose(PairSum(three=True), pos[None], box, np.full(len(pos), 6), RC, 50, seed=0,
                             r_bins=10, theta_bins=6, L_bins=6)
    np.savez(tmp_path / "mb.npz", **res)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rel.npz", pair_dist=rng.uniform(2, 5, 100), pair_rnorm=rng.normal(size=100),
             trip_theta=rng.uniform(60, 180, 100), trip_L=rng.uniform(2, 9, 100), trip_rnorm=rng.normal(size=100))
    base = ["--figure", "S4", "--manybody", "water", "painn", str(tmp_path / "mb.npz")]
    assert plots.main(base + ["--out", str(tmp_path / "a.pdf")]) == 0
    assert plots.main(base + ["--out", str(tmp_path / "b.pdf"),
                              "--relevance", "water", "painn", str(tmp_path / "rel.npz")]) == 0
    for n in ("a.pdf", "a.png", "b.pdf", "b.png"):
        assert (tmp_path / n).stat().st_size > 1000
