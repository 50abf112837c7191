"""Figures 3 and S9 mask (θ, L) bins that hold fewer than ``relevance.min_triplets_per_bin`` triplets:
checked on the colour mesh that the real plotting function draws from a small synthetic relevance file."""

from __future__ import annotations

import numpy as np
import pytest
from cgexplain.figures import relevance as plots

CUTOFF = 4.0  # Figure 3: θ bins over 60–180°, L bins over 0–2 × cutoff


def _write(results, system="water", model="painn", source="aa"):
    """10 triplets in the (θ, L) bin (0, 1) of a 4 × 4 grid with relevance -1, 3 in bin (2, 2) with +2."""
    rng = np.random.default_rng(0)
    theta = np.r_[rng.uniform(62, 88, 10), rng.uniform(122, 148, 3)]  # θ bins: 60-90, 90-120, 120-150, 150-180
    L = np.r_[rng.uniform(2.1, 3.9, 10), rng.uniform(4.1, 5.9, 3)]  # L bins: 0-2, 2-4, 4-6, 6-8 Å
    r = np.r_[np.full(10, -1.0), np.full(3, 2.0)]
    path = results / system / "relevance" / model / f"{source}.npz"
    path.parent.mkdir(parents=True)
    a = np.r_[np.full(10, 2.5), np.full(3, 3.5)]  # S9's edge bins: 0-1, 1-2, 2-3, 3-4 Å
    np.savez(path, cutoff=np.asarray(CUTOFF), trip_theta=theta, trip_L=L, trip_rnorm=r, trip_a=a, trip_b=a + 0.1)
    return path


def _draw(monkeypatch, argv):
    """Run `cgexplain plot-relevance` with `argv`; return the drawn figure (kept open)."""
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, out: figs.append(fig))
    assert plots.main(argv) == 0
    (fig,) = figs
    return fig


def _relevance_mesh(ax) -> np.ma.MaskedArray:
    """The diverging mesh of an axis, as (nθ, nL) with NaN-masked bins."""
    (mesh,) = [c for c in ax.collections if c.get_cmap().name == "RdBu_r"]
    arr = np.ma.masked_invalid(mesh.get_array())
    return arr.reshape(4, 4).T if arr.ndim == 1 else arr.T  # pcolormesh got means.T: (nL, nθ)


def _grey_mesh(ax):
    grey = [c for c in ax.collections if c.get_cmap().name != "RdBu_r"]
    return np.ma.masked_invalid(grey[0].get_array()).reshape(4, 4).T if grey else None


@pytest.mark.parametrize("min_n", [1, 3, 5, 11])
def test_fig3_masks_bins_below_the_minimum(tmp_path, monkeypatch, min_n):
    _write(tmp_path)
    fig = _draw(monkeypatch, ["fig3", "--results", str(tmp_path), "--systems", "water", "--models", "painn",
                              "--source", "aa", "--angle-bins", "4", "--edge-bins", "4",
                              "--min-triplets", str(min_n), "--out", str(tmp_path / "f3.pdf")])
    m = _relevance_mesh(fig.axes[0])
    drawn = {tuple(ix) for ix in np.argwhere(~np.ma.getmaskarray(m))}
    expected = {(0, 1)} if min_n <= 10 else set()
    if min_n <= 3:
        expected.add((2, 2))
    assert drawn == expected
    if (0, 1) in drawn:
        assert m[0, 1] == pytest.approx(-1.0)
    if (2, 2) in drawn:
        assert m[2, 2] == pytest.approx(2.0)
    # sparse bins (some triplets, below the minimum) are grey; empty bins stay blank
    grey = _grey_mesh(fig.axes[0])
    sparse = {(0, 1)} - expected | ({(2, 2)} - expected)
    if sparse:
        assert {tuple(ix) for ix in np.argwhere(~np.ma.getmaskarray(grey))} == sparse
    else:
        assert grey is None


def test_masked_bins_do_not_set_the_colour_scale(tmp_path, monkeypatch):
    _write(tmp_path)
    fig = _draw(monkeypatch, ["fig3", "--results", str(tmp_path), "--systems", "water", "--models", "painn",
                              "--angle-bins", "4", "--edge-bins", "4", "--min-triplets", "5",
                              "--out", str(tmp_path / "f3.pdf")])
    (mesh,) = [c for c in fig.axes[0].collections if c.get_cmap().name == "RdBu_r"]
    assert mesh.get_clim() == (-1.0, 1.0)  # the masked bin's mean of 2 would have made it ±2


def test_s9_masks_too(tmp_path, monkeypatch):
    _write(tmp_path)
    fig = _draw(monkeypatch, ["s9", "--results", str(tmp_path), "--system", "water", "--models", "painn",
                              "--angle-bins", "4", "--edge-bins", "4", "--min-triplets", "5",
                              "--out", str(tmp_path / "s9.pdf")])
    # panels θ–a, θ–b, a–b: the 10 triplets (θ bin 0, a and b bin 2) drawn, the 3 (θ 2, a and b 3) masked
    for ax, (drawn, sparse) in zip(fig.axes[:3], [((0, 2), (2, 3)), ((0, 2), (2, 3)), ((2, 2), (3, 3))]):
        m = _relevance_mesh(ax)
        assert {tuple(ix) for ix in np.argwhere(~np.ma.getmaskarray(m))} == {drawn}
        assert {tuple(ix) for ix in np.argwhere(~np.ma.getmaskarray(_grey_mesh(ax)))} == {sparse}


def test_the_rules_pass_the_minimum(tmp_path):
    from test_cutoff_study import dry_run_jobs

    jobs = dry_run_jobs("--configfile", "config/smoke.yaml", tmp_path=tmp_path)
    figs = [j for j in jobs if j["rule"] in ("fig3_relevance", "figS9_threebody")]
    assert len(figs) == 5  # fig3 of aa and cg, S9 of methane, water and mW
    # the truth comparison of a fluid leaves out the same sparse (θ, L) bins
    truth = [j for j in jobs if j["rule"] == "truth" and j["wildcards"]["system"] == "mw_water"]
    assert len(truth) == 2 and all("--min-count 2" in j["shell"] for j in truth)
    for j in figs:
        assert "--min-triplets 2 " in j["shell"], j["shell"]
