"""Figures of the fluid structure comparison (AA reference vs CG models).

Each figure is one call: ``cgexplain plot <figure> --obs SYSTEM:SOURCE:observables.npz ... --out fig.pdf``
writes ``fig.pdf`` and ``fig.png``. Figures: ``rdf`` (Figure 2's RDF curves), ``structure``
(Supplementary S1-style RDF / local angle / q panels), ``triplets`` (Supplementary S7: (θ, L)
distribution of triplets within each model's cutoff, AA vs CG).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

LABELS = {"aa": "AA reference", "painn": "PaiNN", "so3net": "SO3net", "schnet": "SchNet", "imc": "IMC"}
STYLE = {"aa": dict(color="k", lw=2.2, ls="-"), "painn": dict(color="C0", lw=1.5, ls="--"),
         "so3net": dict(color="C3", lw=1.5, ls="-."), "schnet": dict(color="C2", lw=1.5, ls=":"),
         "imc": dict(color="C4", lw=1.5, ls=(0, (5, 1)))}


def parse_obs(items: list[str]) -> dict[str, dict[str, dict]]:
    """``SYSTEM:SOURCE:path`` items → {system: {source: observables}} (order kept)."""
    out: dict[str, dict[str, dict]] = {}
    for it in items:
        try:
            system, source, path = it.split(":", 2)
        except ValueError:
            raise ValueError(f"--obs item {it!r} is not SYSTEM:SOURCE:PATH") from None
        if not Path(path).exists():
            raise FileNotFoundError(f"observables file {path} does not exist")
        with np.load(path) as d:
            out.setdefault(system, {})[source] = {k: d[k] for k in d.files}
    return out


def save(fig, out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".pdf"), bbox_inches="tight")
    fig.savefig(out.with_suffix(".png"), dpi=150, bbox_inches="tight")
    plt.close(fig)


def plot_rdf(obs, out: Path) -> None:
    systems = list(obs)
    fig, axes = plt.subplots(1, len(systems), figsize=(4.2 * len(systems), 3.3), squeeze=False)
    for ax, s in zip(axes[0], systems):
        for src, o in obs[s].items():
            ax.plot(o["rdf_r"], o["rdf_g"], label=LABELS.get(src, src), **STYLE.get(src, {}))
        ax.set(title=s, xlabel="r (Å)", ylabel="g(r)")
        ax.axhline(1.0, color="0.7", lw=0.8, zorder=0)
    axes[0, 0].legend(frameon=False)
    save(fig, out)


def structure_row(axes, per_source: dict) -> None:
    """RDF, local angle distribution and q distribution of each source on three axes."""
    for src, o in per_source.items():
        kw = dict(label=LABELS.get(src, src), **STYLE.get(src, {}))
        axes[0].plot(o["rdf_r"], o["rdf_g"], **kw)
        axes[1].plot(o["angle_centres"], o["angle_density"], **kw)
        axes[2].plot(o["q_centres"], o["q_density"], **kw)
    axes[0].set(xlabel="r (Å)", ylabel="g(r)")
    axes[1].set(xlabel="local angle (deg)", ylabel="density")
    axes[2].set(xlabel="tetrahedral order q", ylabel="density")


def plot_structure(obs, out: Path) -> None:
    systems = list(obs)
    fig, axes = plt.subplots(len(systems), 3, figsize=(12, 3.2 * len(systems)), squeeze=False)
    for row, s in zip(axes, systems):
        structure_row(row, obs[s])
        row[0].set_title(s, loc="left", fontweight="bold")
    axes[0, 0].legend(frameon=False)
    fig.tight_layout()
    save(fig, out)


def _hist_for(o: dict, cutoff: float) -> np.ndarray:
    k = int(np.argmin(np.abs(o["triplet_cutoffs"] - cutoff)))
    if abs(o["triplet_cutoffs"][k] - cutoff) > 1e-6:
        raise ValueError(f"no triplet histogram at cutoff {cutoff} Å (have {o['triplet_cutoffs'].tolist()})")
    return o["triplet_hist"][k]


def plot_triplets(obs, out: Path) -> None:
    """AA vs CG (θ, L) distributions, one row per system × model, at that model's cutoff."""
    rows = [(s, src) for s in obs for src in obs[s] if src != "aa" and "aa" in obs[s]]
    if not rows:
        raise ValueError("the triplets figure needs an 'aa' source and at least one model per system")
    fig, axes = plt.subplots(len(rows), 2, figsize=(8, 3.0 * len(rows)), squeeze=False)
    for (s, src), ax in zip(rows, axes):
        o = obs[s][src]
        cut = float(o["triplet_cutoffs"][0])
        ext = [o["triplet_L_edges"][0], o["triplet_L_edges"][-1], o["triplet_theta_edges"][0], o["triplet_theta_edges"][-1]]
        for a, h, title in ((ax[0], _hist_for(obs[s]["aa"], cut), "AA"), (ax[1], _hist_for(o, cut), LABELS.get(src, src))):
            a.imshow(h, origin="lower", aspect="auto", extent=ext, cmap="viridis")
            a.set(title=f"{s}, {title} (cutoff {cut:g} Å)", xlabel="opposite edge L (Å)", ylabel="largest angle θ (deg)")
    fig.tight_layout()
    save(fig, out)


FIGURES = {"rdf": plot_rdf, "structure": plot_structure, "triplets": plot_triplets}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain plot", description="Draw one structure figure.")
    ap.add_argument("figure", choices=sorted(FIGURES))
    ap.add_argument("--obs", nargs="+", required=True, help="SYSTEM:SOURCE:observables.npz")
    ap.add_argument("--out", required=True, type=Path, help="figure path; .pdf and .png are written")
    a = ap.parse_args(argv)
    sns.set_theme(style="ticks", context="paper")
    FIGURES[a.figure](parse_obs(a.obs), a.out)
    return 0
