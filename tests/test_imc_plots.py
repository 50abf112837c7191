"""Baseline figures S1/S3/S4 render from small synthetic inputs (PDF + PNG)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cgexplain.baselines import manybody
from cgexplain.figures import baselines as plots
from cgexplain.figures import style
from test_manybody import RC, PairSum, liquid


def _obs(path, shift):
    r = np.linspace(0.05, 9.95, 100)
    a = np.linspace(1, 179, 90)
    q = np.linspace(-0.99, 0.99, 100)
    np.savez(path, rdf_r=r, rdf_g=1 + np.exp(-(r - 4 - shift) ** 2), angle_centres=a,
             angle_density=np.exp(-(a - 60 - 10 * shift) ** 2 / 200) / 25, q_centres=q,
             q_density=np.exp(-(q - 0.5) ** 2 / 0.1))


def _drawn(monkeypatch):
    """Record every figure the module saves (then save it as usual)."""
    figures = []
    real = plots._save

    def keep(fig, out):
        figures.append(fig)
        return real(fig, out)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _image_has_content(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.ndim == 3 and min(img.shape[:2]) > 200, img.shape
    return float(img[..., :3].std()) > 0.05  # not a blank (or one-colour) canvas


@pytest.mark.parametrize("figure,sources,title", [
    ("S1", ("aa", "imc", "painn", "so3net"), "Pair potential (IMC) vs neural network potentials"),
    ("S3", ("aa", "schnet", "painn", "so3net"), "Invariant (SchNet) vs equivariant networks"),
])
def test_s1_and_s3_draw_every_source_of_every_system(tmp_path, monkeypatch, figure, sources, title):
    """Each figure has one row per liquid and, in its RDF, angle and q panels, one curve per source with
    that source's label and the values of its observables file."""
    from matplotlib.colors import same_color

    figures = _drawn(monkeypatch)
    args, data = [], {}
    for system in ("methane", "water"):
        for k, src in enumerate(sources):
            path = tmp_path / f"{system}_{src}.npz"
            _obs(path, 0.1 * k + (0.5 if system == "water" else 0.0))
            data[system, src] = dict(np.load(path))
            args += ["--input", system, src, str(path)]
    out = tmp_path / "fig" / f"{figure}.pdf"
    assert plots.main(["--figure", figure, "--out", str(out)] + args) == 0
    assert out.stat().st_size > 1000 and _image_has_content(out.with_suffix(".png"))
    (fig,) = figures
    assert fig._suptitle.get_text() == title
    axes = np.array(fig.axes).reshape(2, 3)
    for row, system in enumerate(("methane", "water")):
        assert axes[row, 0].get_title() == f"{system}: RDF"
        for col, (xkey, ykey) in enumerate((("rdf_r", "rdf_g"), ("angle_centres", "angle_density"),
                                            ("q_centres", "q_density"))):
            lines = [ln for ln in axes[row, col].get_lines() if len(ln.get_xdata()) > 2]  # not the g = 1 guide
            assert [ln.get_label() for ln in lines] == [style.label(s) for s in sources]
            for ln, src in zip(lines, sources):
                np.testing.assert_array_equal(ln.get_xdata(), data[system, src][xkey])
                np.testing.assert_array_equal(ln.get_ydata(), data[system, src][ykey])
                assert same_color(ln.get_color(), style.colour(src))


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
