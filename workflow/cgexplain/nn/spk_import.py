"""Models from outside the workflow: a SchNetPack ``NeuralNetworkPotential`` as SchNetPack saves it.

SchNetPack's trainer writes its best model (``best_model``) as the whole pickled
``NeuralNetworkPotential`` (``torch.save(model)``). :func:`load_model` reads that file, or the project's
own model file (:func:`cgexplain.nn.models.load_potential`), and returns the project's
:class:`~cgexplain.nn.models.CGPotential` — the object the relevance engine explains — with the file's
weights.

Nothing is assumed silently. The architecture (PaiNN, SO3net, SchNet) and its hyper-parameters are read
from the modules; the project's network is rebuilt from them (:func:`cgexplain.nn.models.build_network`)
and compared with the file's module by module: the same module tree, the same class (or the project's
faster implementation of it), the same settings (activations, feature sizes, radial basis, cutoff
function, …). The first difference is refused in one line naming the module, e.g. ``module
'representation.radial_basis' is BesselRBF; supported there: GaussianRBF``. Around the representation the
model may hold exactly one atomwise energy head summed over beads (``Atomwise``, ``aggregation_mode``
"sum", one output), SchNetPack's ``PairwiseDistances`` input module, a ``Forces`` output module (it
derives forces and leaves the energy alone) and the dtype casts ``CastTo32``/``CastTo64``; anything else
that could change the energy (``AddOffsets``, ``ScaleProperty``, a second representation or head, …) is
refused. Finally the rebuilt network's energy is compared with the file's own on a real frame
(:func:`check_same_energy`).

Unpickling runs code from the file: load only model files you trust, as with ``torch.load``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError
from ..core.runtime import load_torch_file
from .models import FORMAT, CGPotential, ModelConfig, check_beads, potential_from_payload

REPRESENTATIONS = {"PaiNN": "painn", "SO3net": "so3net", "SchNet": "schnet"}
#: Postprocessors that leave the energy's value alone (they change its dtype).
HARMLESS_POSTPROCESSORS = ("CastTo32", "CastTo64")
#: Output modules besides the energy head that leave the energy alone.
HARMLESS_OUTPUTS = ("Forces",)
#: Attributes that name things rather than change the function.
NAMING = {"output_key", "model_outputs", "per_atom_output_key", "training"}


def load_model(path: str | Path, z=None, device="cpu", dtype=torch.float64) -> CGPotential:
    """The :class:`CGPotential` of model file ``path`` for beads of types ``z``.

    ``path``: a SchNetPack ``NeuralNetworkPotential`` saved with ``torch.save`` (``z`` required), or the
    project's ``model.pt`` (``z`` optional; when given it must be the model's bead types).
    """
    obj = load_torch_file(path, "model file", "a SchNetPack model or a cgexplain model file")
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        pot = potential_from_payload(obj, path, device=device, dtype=dtype)
        if z is not None:
            check_beads(pot, z, path, "the frames", "trajectory")
        pot.kind = "cgexplain"
        return pot
    if isinstance(obj, dict):
        keys = sorted(map(str, obj))[:6]
        hint = (" (a Lightning checkpoint: give the best_model file SchNetPack writes beside it)"
                if "state_dict" in obj and "format" not in obj else "")
        raise InputError(f"model file {path} holds a dict with keys {keys}, not a SchNetPack model or a cgexplain "
                         f"model file{hint}")
    if not isinstance(obj, nn.Module):
        raise InputError(f"model file {path} holds a {type(obj).__name__}, not a SchNetPack NeuralNetworkPotential")
    if z is None:
        raise InputError(f"model file {path} is a SchNetPack model: bead types come from the frames "
                         "(topology elements) or --types")
    pot = potential_from_schnetpack(obj, z, path)
    return pot.to(device=device, dtype=dtype).eval()


# ---------------------------------------------------------------------------------------------
# reading and checking a SchNetPack model
# ---------------------------------------------------------------------------------------------

def _refuse(path, where: str, what: str):
    raise InputError(f"model file {path}: module '{where}' {what}")


def _energy_head(net: nn.Module, path) -> tuple[str, nn.Module]:
    """The one atomwise energy head among the output modules (name, module); the others must be harmless."""
    outs = getattr(net, "output_modules", None)
    if outs is None or not hasattr(net, "representation"):
        raise InputError(f"model file {path} holds a {type(net).__name__}, not a SchNetPack NeuralNetworkPotential "
                         "(no representation and output_modules)")
    if isinstance(net.representation, (nn.ModuleList, nn.Sequential)):
        _refuse(path, "representation", "holds several representations; the engine explains exactly one")
    heads = []
    for k, m in enumerate(outs):
        name = type(m).__name__
        if name == "Atomwise":
            heads.append((f"output_modules.{k}", m))
        elif name not in HARMLESS_OUTPUTS:
            _refuse(path, f"output_modules.{k}", f"is {name}; the engine explains one Atomwise energy head "
                    f"(other outputs allowed: {', '.join(HARMLESS_OUTPUTS)})")
    if len(heads) != 1:
        raise InputError(f"model file {path}: {len(heads)} Atomwise output modules; the engine explains exactly one "
                         "energy head")
    where, head = heads[0]
    if head.aggregation_mode != "sum":
        _refuse(path, where, f"aggregates with {head.aggregation_mode!r}; GNN-LRP needs an atomwise sum")
    if int(head.n_out) != 1:
        _refuse(path, where, f"has {head.n_out} outputs; the energy head has one")
    return where, head


def _check_wrappers(net: nn.Module, path) -> None:
    """Input modules and postprocessors must leave the energy alone."""
    ins = list(getattr(net, "input_modules", []))
    names = [type(m).__name__ for m in ins]
    if names != ["PairwiseDistances"]:
        k = next((i for i, n in enumerate(names) if n != "PairwiseDistances"), len(names))
        what = (f"is {names[k]}" if k < len(names) else "is missing")
        _refuse(path, f"input_modules.{k}", f"{what}; the engine builds the graph itself and supports exactly "
                "one input module, PairwiseDistances")
    if getattr(net, "do_postprocessing", False):
        for k, m in enumerate(getattr(net, "postprocessors", [])):
            if type(m).__name__ not in HARMLESS_POSTPROCESSORS:
                _refuse(path, f"postprocessors.{k}", f"is {type(m).__name__}, which may change the energy; "
                        f"supported postprocessors: {', '.join(HARMLESS_POSTPROCESSORS)} (or save the model "
                        "with do_postprocessing=False)")


def read_config(net: nn.Module, path=None) -> ModelConfig:
    """The :class:`ModelConfig` (architecture and hyper-parameters) of a SchNetPack model's modules."""
    rep = net.representation
    name = type(rep).__name__
    stock = _stock(type(rep)).__name__
    if stock not in REPRESENTATIONS:
        _refuse(path, "representation", f"is {name}; supported: {', '.join(REPRESENTATIONS)}")
    arch = REPRESENTATIONS[stock]
    rbf, fcut = getattr(rep, "radial_basis", None), getattr(rep, "cutoff_fn", None)
    if rbf is None or not hasattr(rbf, "n_rbf"):
        _refuse(path, "representation.radial_basis", f"is {type(rbf).__name__}; supported there: GaussianRBF")
    if fcut is None or not hasattr(fcut, "cutoff"):
        _refuse(path, "representation.cutoff_fn", f"is {type(fcut).__name__}; supported there: CosineCutoff")
    interactions = rep.interactions if arch != "so3net" else rep.so3convs
    if len(interactions) > 1 and interactions[0] is interactions[1]:
        _refuse(path, "representation", "shares its interaction layers (shared_interactions=True); the project "
                "builds unshared layers")
    kw = dict(arch=arch, cutoff=float(fcut.cutoff), n_atom_basis=int(rep.n_atom_basis),
              n_interactions=len(interactions), n_rbf=int(rbf.n_rbf), max_z=int(rep.embedding.num_embeddings))
    if arch == "so3net":
        kw["lmax"] = int(rep.lmax)
    if arch == "schnet":
        kw["n_filters"] = int(rep.n_filters)
    try:
        return ModelConfig(**kw)
    except ValueError as e:
        raise InputError(f"model file {path}: {e}") from None


def _stock(cls: type) -> type:
    """The SchNetPack or torch class that ``cls`` implements (the project's faster subclasses map to
    their SchNetPack base)."""
    for c in cls.__mro__:
        if not c.__module__.startswith("cgexplain"):
            return c
    return cls


def _same_class(user: nn.Module, ref: nn.Module) -> bool:
    tu, tr = type(user), type(ref)
    if tu is tr:
        return True
    known = all(t.__module__.split(".")[0] in ("schnetpack", "torch", "cgexplain") for t in (tu, tr))
    return known and _stock(tu) is _stock(tr)


def _fn_name(f) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _same_value(a, b) -> bool:
    if torch.is_tensor(a) or torch.is_tensor(b):
        if not (torch.is_tensor(a) and torch.is_tensor(b)) or a.shape != b.shape:
            return False
        return bool(torch.allclose(a.detach().double().cpu(), b.detach().double().cpu(), rtol=1e-6, atol=1e-9))
    if callable(a) or callable(b):
        return a is b or (_fn_name(a) == _fn_name(b) and getattr(a, "__module__", None) == getattr(b, "__module__", None))
    return a == b


def _settings(m: nn.Module) -> dict:
    """The plain settings of one module (not its children, parameters or buffers)."""
    return {k: v for k, v in vars(m).items()
            if not k.startswith("_") and k not in NAMING
            and (v is None or isinstance(v, (bool, int, float, str, tuple, list)) or callable(v) or torch.is_tensor(v))}


def _activation(m: nn.Module) -> str | None:
    """Name of a layer's activation ("none" for the identity); None if the layer has no such attribute."""
    act = m._modules.get("activation", vars(m).get("activation", "absent"))
    if isinstance(act, str):
        return None
    if act is None or isinstance(act, nn.Identity):
        return "none"
    return _fn_name(act) if not isinstance(act, nn.Module) else type(act).__name__


def compare_modules(user: nn.Module, ref: nn.Module, prefix: str, path) -> None:
    """Refuse the first module of ``user`` whose place, class, activation or settings differ from ``ref``."""
    def tree(m):
        return {n: x for n, x in m.named_modules(prefix=prefix) if not n.endswith(".activation")}

    ru, rr = tree(user), tree(ref)
    extra = [n for n in ru if n not in rr]
    if extra:
        _refuse(path, extra[0], f"({type(ru[extra[0]]).__name__}) is not part of the network the project builds for "
                "these hyper-parameters (another number of layers or a module of its own)")
    for name, mr in rr.items():
        if name not in ru:
            _refuse(path, name, f"is missing (expected {type(mr).__name__}); the model is not the one the project "
                    "builds for these hyper-parameters")
        mu = ru[name]
        if not _same_class(mu, mr):
            _refuse(path, name, f"is {type(mu).__name__} ({type(mu).__module__}); supported there: "
                    f"{_stock(type(mr)).__name__}")
        if _activation(mu) != _activation(mr):
            _refuse(path, name, f"({type(mu).__name__}) has activation {_activation(mu)}; supported there: "
                    f"{_activation(mr)}")
        su, sr = _settings(mu), _settings(mr)
        for key in sorted(su):  # settings the project's class adds (caches of a faster subclass) do not count
            if key != "activation" and (key not in sr or not _same_value(su[key], sr[key])):
                _refuse(path, name, f"({type(mu).__name__}) has setting {key!r} = {su[key]!r}; supported there: "
                        f"{sr.get(key, 'none')!r}")


def potential_from_schnetpack(net: nn.Module, z, path=None) -> CGPotential:
    """Check a SchNetPack ``NeuralNetworkPotential`` and return the project's potential with its weights."""
    where, head = _energy_head(net, path)
    _check_wrappers(net, path)
    cfg = read_config(net, path)
    pot = CGPotential(cfg, np.asarray(z, dtype=np.int64).reshape(-1))
    dtype = next(net.parameters()).dtype
    pot = pot.to(dtype)
    compare_modules(net.representation, pot.net.representation, "representation", path)
    compare_modules(head, pot.net.output_modules[0], where, path)
    try:
        pot.net.representation.load_state_dict(net.representation.state_dict(), strict=True)
        pot.net.output_modules[0].load_state_dict(head.state_dict(), strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())[:300]
        raise InputError(f"model file {path}: weights do not fit the rebuilt {cfg.arch}: {msg}") from None
    bad = [k for k, v in pot.net.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise InputError(f"model file {path}: {len(bad)} weight tensor(s) hold NaN or inf ({', '.join(bad[:3])})")
    z_max = int(np.max(z))
    if z_max >= cfg.max_z:
        raise InputError(f"model file {path}: bead type {z_max} is beyond the model's embedding (max_z {cfg.max_z})")
    pot.source = str(path)
    pot.kind = "schnetpack"
    object.__setattr__(pot, "original", net)  # not a submodule: it keeps its own dtype and device
    pot.energy_key = head.output_key
    return pot.eval()


def check_same_energy(pot: CGPotential, pos: np.ndarray, box, rtol: float = 1e-8) -> None:
    """Compare the rebuilt network's energy with the file's own SchNetPack model on one frame (float64);
    a difference means a part the checks did not see: refused in one line."""
    net = getattr(pot, "original", None)
    if net is None:
        return
    import copy

    ref = copy.deepcopy(net).to(dtype=torch.float64, device="cpu").eval()
    ref.do_postprocessing = False
    mine = copy.deepcopy(pot).to(dtype=torch.float64, device="cpu").eval()
    x = torch.as_tensor(np.asarray(pos), dtype=torch.float64).reshape(1, -1, 3)
    b = None if box is None else torch.as_tensor(np.asarray(box), dtype=torch.float64)
    with torch.enable_grad():
        e_file = float(ref(mine.inputs(x.clone(), b))[pot.energy_key].detach().sum())
        e_mine = float(mine.net(mine.inputs(x.clone(), b))["energy"].detach().sum())
    if not abs(e_file - e_mine) <= rtol * max(1.0, abs(e_file)):
        raise InputError(f"model file {pot.source}: the rebuilt {pot.cfg.arch} gives energy {e_mine:.10g}, the file's "
                         f"model {e_file:.10g} on the first frame: the model holds a part the engine does not know")


__all__ = ["check_same_energy", "compare_modules", "load_model", "potential_from_schnetpack",
           "read_config"]
