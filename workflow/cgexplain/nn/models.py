"""SchNetPack potentials for CG force matching, and the model file format.

A :class:`CGPotential` wraps a SchNetPack ``NeuralNetworkPotential`` that predicts the energy as an
atomwise sum (kcal/mol, positions in Å); forces are −∂E/∂R by autograd. It takes batched positions
``(B, N, 3)`` and an orthorhombic box, builds the periodic graph itself, and optionally adds a prior
energy (delta learning). The same object is used by training, the Langevin engine and the relevance
stage, so all three see exactly the same function.

Model file (``model.pt``, written by :func:`save_potential`): a ``torch.save`` dict with keys
``format`` ("cgexplain-model/1"), ``model`` (the architecture hyper-parameters, see
:class:`ModelConfig`), ``z`` (bead types, list of ints), ``state_dict`` (the network weights, EMA
weights when training used EMA), ``prior`` (None or a dict understood by :mod:`cgexplain.priors`)
and ``meta`` (free-form: system, training summary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.compat import spk
from ..core.errors import InputError
from ..core.runtime import read_payload, save_payload
from .neighbors import check_box, neighbor_list

FORMAT = "cgexplain-model/1"
ARCHITECTURES = ("painn", "so3net", "schnet")


@dataclass
class ModelConfig:
    """Hyper-parameters of one SchNetPack representation + atomwise energy head."""

    arch: str
    cutoff: float = 5.0  # Å
    n_atom_basis: int = 128
    n_interactions: int = 3
    n_rbf: int = 20
    lmax: int = 2  # SO3net only
    n_filters: int | None = None  # SchNet only (defaults to n_atom_basis)
    max_z: int = 100
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; expected one of {ARCHITECTURES}")
        if self.cutoff <= 0 or self.n_atom_basis < 1 or self.n_interactions < 1 or self.n_rbf < 1:
            raise ValueError(f"invalid model hyper-parameters: {asdict(self)}")


class Atomwise(spk.atomistic.Atomwise):
    """SchNetPack's ``Atomwise`` energy head; a sum over the beads of each structure takes the number of
    structures from the input's shape instead of reading ``int(idx_m[-1])`` from the device (one host
    sync per call on a GPU). The same function and parameters."""

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.aggregation_mode != "sum" or self.per_atom_output_key is not None:
            return super().forward(inputs)
        y = self.outnet(inputs["scalar_representation"])
        n_structures = inputs[spk.properties.n_atoms].shape[0]
        y = spk.nn.scatter_add(y, inputs[spk.properties.idx_m], dim_size=n_structures)
        inputs[self.output_key] = torch.squeeze(y, -1)
        return inputs


def build_network(cfg: ModelConfig) -> nn.Module:
    """The SchNetPack ``NeuralNetworkPotential`` (energy only) for ``cfg``."""
    rbf = spk.nn.GaussianRBF(n_rbf=cfg.n_rbf, cutoff=cfg.cutoff)
    fcut = spk.nn.CosineCutoff(cfg.cutoff)
    if cfg.arch == "painn":
        rep = spk.representation.PaiNN(
            n_atom_basis=cfg.n_atom_basis, n_interactions=cfg.n_interactions,
            radial_basis=rbf, cutoff_fn=fcut, max_z=cfg.max_z,
        )
    elif cfg.arch == "so3net":  # SchNetPack's SO3net with the project's faster layers (same function, state dict)
        from .so3fast import SO3net

        rep = SO3net(
            n_atom_basis=cfg.n_atom_basis, n_interactions=cfg.n_interactions, lmax=cfg.lmax,
            radial_basis=rbf, cutoff_fn=fcut, max_z=cfg.max_z,
        )
    else:
        rep = spk.representation.SchNet(
            n_atom_basis=cfg.n_atom_basis, n_interactions=cfg.n_interactions,
            radial_basis=rbf, cutoff_fn=fcut, n_filters=cfg.n_filters, max_z=cfg.max_z,
        )
    return spk.model.NeuralNetworkPotential(
        representation=rep,
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[Atomwise(n_in=cfg.n_atom_basis, output_key="energy")],
        do_postprocessing=False,
    )


class CGPotential(nn.Module):
    """E(R) = U_net(R) [+ U_prior(R)] for batches of CG configurations with fixed bead types."""

    def __init__(self, cfg: ModelConfig, z, prior: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.net = build_network(cfg)
        self.register_buffer("z", torch.as_tensor(z, dtype=torch.long).reshape(-1))
        self.prior = prior
        self.source: str | None = None  # the model file it was loaded from (named in errors)

    @property
    def cutoff(self) -> float:
        return float(self.cfg.cutoff)

    @property
    def n_beads(self) -> int:
        return int(self.z.numel())

    def inputs(self, pos: torch.Tensor, box: torch.Tensor | None, check_box: bool = True) -> dict[str, torch.Tensor]:
        """SchNetPack's input dictionary for a batch ``pos`` of shape (B, N, 3). ``check_box=False``: the
        caller has checked the box against the cutoff already (:func:`check_box`; one host sync saved)."""
        B, N, _ = pos.shape
        if N != self.n_beads:
            where = f" {self.source}" if self.source else ""
            raise ValueError(f"model{where} expects {self.n_beads} beads, got {N}")
        g = neighbor_list(pos, box, self.cutoff, check=check_box)
        dev = pos.device
        if box is None:
            cell = torch.zeros(B, 3, 3, dtype=pos.dtype, device=dev)
            pbc = torch.zeros(B, 3, dtype=torch.bool, device=dev)
        else:
            b = torch.as_tensor(box, dtype=pos.dtype, device=dev).reshape(-1, 3).expand(B, 3)
            cell = torch.diag_embed(b)
            pbc = torch.ones(B, 3, dtype=torch.bool, device=dev)
        p = spk.properties
        return {
            p.Z: self.z.repeat(B),
            p.R: pos.reshape(B * N, 3),
            p.cell: cell,
            p.pbc: pbc,
            p.n_atoms: torch.full((B,), N, dtype=torch.long, device=dev),
            p.idx_m: torch.arange(B, device=dev).repeat_interleave(N),
            p.idx_i: g.idx_i,
            p.idx_j: g.idx_j,
            p.offsets: g.offsets,
        }

    def energy(self, pos: torch.Tensor, box: torch.Tensor | None, check_box: bool = True) -> torch.Tensor:
        """Potential energy (B,) in kcal/mol."""
        e = self.net(self.inputs(pos, box, check_box))["energy"].reshape(-1)
        if self.prior is not None:
            e = e + self.prior(pos, box)
        return e

    def forward(self, pos: torch.Tensor, box: torch.Tensor | None, create_graph: bool = False,
                check_box: bool = True):
        """Energies (B,) and forces (B, N, 3) = −∂E/∂R in kcal/mol/Å."""
        with torch.enable_grad():
            x = pos if pos.requires_grad else pos.detach().requires_grad_(True)
            e = self.energy(x, box, check_box)
            (g,) = torch.autograd.grad(e.sum(), x, create_graph=create_graph)
        return e, -g


def non_finite_weights(state_dict: dict) -> list[str]:
    """Names of the tensors of ``state_dict`` that hold NaN or inf."""
    return [k for k, v in state_dict.items()
            if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_potential(path: str | Path, pot: CGPotential, meta: dict | None = None,
                   state_dict: dict | None = None) -> None:
    """Write the model file atomically (a half-written file never carries the final name).

    Refuses (``ValueError`` naming the path, nothing written) weights that are not finite.
    """
    from ..priors import prior_to_dict

    sd = state_dict if state_dict is not None else pot.net.state_dict()
    bad = non_finite_weights(sd)
    if bad:
        raise ValueError(f"refusing to write model {path}: {len(bad)} weight tensor(s) hold NaN or inf "
                         f"({', '.join(bad[:3])}{', …' if len(bad) > 3 else ''}); the training diverged")
    payload = {
        "format": FORMAT,
        "model": asdict(pot.cfg),
        "z": pot.z.tolist(),
        "state_dict": {k: v.detach().cpu() for k, v in sd.items()},
        "prior": prior_to_dict(pot.prior),
        "meta": meta or {},
    }
    save_payload(path, payload)


def load_potential(path: str | Path, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> CGPotential:
    """Load a model file written by :func:`save_potential`.

    Refused in one line naming the file (:class:`cgexplain.core.errors.InputError`): a missing file, one
    that is not a model file (random bytes, truncated, a prior file, …), weights that do not fit the
    recorded architecture, and weights that are not finite.
    """
    return potential_from_payload(read_payload(path, FORMAT, "model file"), path, device, dtype)


def potential_from_payload(payload: dict, path, device: str | torch.device = "cpu",
                           dtype: torch.dtype = torch.float32) -> CGPotential:
    """The potential of a model file's ``payload`` already read from ``path`` (checked as
    :func:`load_potential` does)."""
    from ..priors import prior_from_dict

    try:
        cfg = ModelConfig(**payload["model"])
        pot = CGPotential(cfg, payload["z"], prior=prior_from_dict(payload.get("prior")))
        bad = non_finite_weights(payload["state_dict"])
        if bad:
            raise InputError(f"{len(bad)} weight tensor(s) hold NaN or inf ({', '.join(bad[:3])}"
                             f"{', …' if len(bad) > 3 else ''})")
        pot.net.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        msg = " ".join(str(e).split())
        raise InputError(f"model file {path} is unusable: {msg[:300]}") from None
    pot.meta = payload.get("meta", {})
    pot.source = str(path)
    return pot.to(device=device, dtype=dtype).eval()


def check_beads(pot: CGPotential, z, model_path, data_path, what: str = "dataset") -> None:
    """Refuse frames whose beads (count and types ``z``) are not the ones the model was trained on;
    the message names both files."""
    z = [int(v) for v in np.asarray(z).reshape(-1)]
    zm = [int(v) for v in pot.z.tolist()]
    if z == zm:
        return
    if len(z) != len(zm):
        raise InputError(f"model {model_path} expects {len(zm)} beads of types {type_summary(zm)}, "
                         f"{what} {data_path} has {len(z)} beads of types {type_summary(z)}")
    i = next(k for k, (a, b) in enumerate(zip(zm, z)) if a != b)
    n = sum(a != b for a, b in zip(zm, z))
    raise InputError(f"model {model_path} expects bead types {type_summary(zm)}, {what} {data_path} has "
                     f"{type_summary(z)}: {n} of {len(z)} beads differ, first bead {i} (model {zm[i]}, {what} {z[i]})")


def type_summary(z) -> str:
    """Bead types as counts, e.g. ``{8: 258}`` or ``{1: 3, 6: 36}``."""
    vals, counts = np.unique(np.asarray(z, dtype=np.int64), return_counts=True)
    return "{" + ", ".join(f"{int(v)}: {int(c)}" for v, c in zip(vals, counts)) + "}"


__all__ = ["ARCHITECTURES", "CGPotential", "ModelConfig", "build_network", "check_beads", "check_box",
           "potential_from_payload",
           "load_potential", "non_finite_weights", "save_potential"]
