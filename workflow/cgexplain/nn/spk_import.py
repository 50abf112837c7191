"""Models from outside the workflow: a SchNetPack ``NeuralNetworkPotential`` as SchNetPack saves it.

SchNetPack's trainer writes its best model (``best_model``) as the whole pickled
``NeuralNetworkPotential`` (``torch.save(model)``). :func:`load_model` reads that file, or the project's
own model file (:func:`cgexplain.nn.models.load_potential`), and returns the project's
:class:`~cgexplain.nn.models.CGPotential` — the object the relevance engine explains — with the file's
weights.

**Releases.** Files written by SchNetPack 2.0.x, 2.1.x and 2.2.x are read with the project's own stack
(schnetpack 2.0.4). What the newer releases add without changing the function is set aside: the
``spk_version`` tag, an empty ``electronic_embeddings`` list in the representation, the embedding's
``padding_idx`` (it only masks a gradient) and the ``activation`` that SO3net stores but never uses
(:data:`IGNORED_SETTINGS`). Classes the file needs and schnetpack 2.0.4 lacks (2.1's ``NuclearEmbedding``
and ``ElectronicEmbedding`` in ``schnetpack.nn.embedding``, a representation of a later release, a class of
the user's own) are found by reading the file a second time with stand-ins for them, and refused in one line
naming the module, the class and the file's SchNetPack version — never as an unreadable file.

Nothing is assumed silently. The architecture (PaiNN, SO3net, SchNet) and its hyper-parameters are read
from the modules; the project's network is rebuilt from them (:func:`cgexplain.nn.models.build_network`)
and compared with the file's module by module: the same module tree, the same class (or the project's
faster implementation of it), the same settings (activations, feature sizes, radial basis, cutoff
function, …). The first difference is refused in one line naming the module (and the file's SchNetPack
version when it carries one), e.g. ``module 'representation.radial_basis' is BesselRBF; supported there:
GaussianRBF``. Around the representation the model may hold exactly one atomwise energy head summed over
beads (``Atomwise``, ``aggregation_mode`` "sum", one output), SchNetPack's ``PairwiseDistances`` input
module, a ``Forces`` output module (it derives forces and leaves the energy alone), the dtype casts
``CastTo32``/``CastTo64`` and ``AddOffsets``. ``AddOffsets`` (the mean and the per-type atom references
SchNetPack's experiment configs add to the energy) is a sum of per-bead constants: it changes no force and
no many-body term, so the network is explained and the offsets are kept beside it
(``CGPotential.offsets``, per bead; ``cgexplain explain`` reports them as a 1-body term). Anything else that
changes the energy (``ScaleProperty``, a second representation or head, …) is refused. Finally the rebuilt
network's energy plus the offsets is compared with the file's own model, postprocessing as saved, on a real
frame (:func:`check_same_energy`).

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
#: Postprocessors that add per-bead constants to the energy: explained beside the network as offsets.
OFFSET_POSTPROCESSORS = ("AddOffsets",)
#: Output modules besides the energy head that leave the energy alone.
HARMLESS_OUTPUTS = ("Forces",)
#: Attributes that name things rather than change the function.
NAMING = {"output_key", "model_outputs", "per_atom_output_key", "training"}
#: (class, attribute) settings that SchNetPack 2.1/2.2 store and that do not change the energy: not compared.
IGNORED_SETTINGS = {
    ("Embedding", "padding_idx"),  # 2.1+: None, 2.0.4: 0; the lookup is the same, only a gradient is masked
    ("SO3net", "activation"),      # 2.1+ stores it; SO3net's forward never uses it
}
#: Child lists of a 2.1/2.2 representation that the project's network lacks and that must be empty.
EMPTY_LISTS = ("electronic_embeddings",)
#: What the project rebuilds at the places where newer releases put modules of their own.
SUPPORTED_AT = {
    "representation": "PaiNN, SO3net, SchNet",
    "representation.embedding": "Embedding (SchNetPack's default nuclear embedding)",
    "representation.electronic_embeddings": "none (an empty list)",
}


def load_model(path: str | Path, z=None, device="cpu", dtype=torch.float64) -> CGPotential:
    """The :class:`CGPotential` of model file ``path`` for beads of types ``z``.

    ``path``: a SchNetPack ``NeuralNetworkPotential`` saved with ``torch.save`` (``z`` required), or the
    project's ``model.pt`` (``z`` optional; when given it must be the model's bead types).
    """
    try:
        obj = load_torch_file(path, "model file", "a SchNetPack model or a cgexplain model file")
    except InputError:
        found = _read_with_stand_ins(path)
        if found is None:  # not a pickle that only lacks classes: the original one-line error stands
            raise
        _refuse_missing(path, *found)
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
        raise InputError(f"model file {_label(path, obj)} is a SchNetPack model: bead types come from the frames "
                         "(topology elements) or --types")
    pot = potential_from_schnetpack(obj, z, path)
    return pot.to(device=device, dtype=dtype).eval()


# ---------------------------------------------------------------------------------------------
# reading and checking a SchNetPack model
# ---------------------------------------------------------------------------------------------

def spk_version(net) -> str | None:
    """The SchNetPack version a model file was saved with (``spk_version``, SchNetPack >= 2.1), or None."""
    v = getattr(net, "spk_version", None)
    return str(v) if isinstance(v, str) and v else None


def _label(path, net=None) -> str:
    """How errors name the file: its path and, when the model carries it, its SchNetPack version."""
    v = spk_version(net) if net is not None else None
    return f"{path} (saved with schnetpack {v})" if v else f"{path}"


def _refuse(path, where: str, what: str):
    """``path`` is the file's label (:func:`_label`)."""
    raise InputError(f"model file {path}: module '{where}' {what}")


class _Missing(nn.Module):
    """Stands in for a class that a model file names and this installation lacks, only to say which."""

    missing = ""

    def __init__(self, *args, **kwargs):
        super().__init__()


_STAND_INS: dict[tuple[str, str], type] = {}


def _stand_in(module: str, name: str) -> type:
    key = (module, name)
    if key not in _STAND_INS:
        _STAND_INS[key] = type(name, (_Missing,), {"__module__": module, "__qualname__": name,
                                                   "missing": f"{module}.{name}"})
    return _STAND_INS[key]


def _read_with_stand_ins(path):
    """Read ``path`` again with a stand-in for every class it names that cannot be imported here (a module
    schnetpack 2.0.4 lacks, a class of a later release, a module of the user's own). Returns (object,
    missing class names) when that explains why the plain read failed, else None."""
    import pickle
    import types

    missing: list[str] = []

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            try:
                return super().find_class(module, name)
            except (ModuleNotFoundError, AttributeError):
                missing.append(f"{module}.{name}")
                return _stand_in(module, name)

    pm = types.ModuleType("cgexplain_stand_ins")
    pm.Unpickler, pm.Pickler, pm.load, pm.dump = Unpickler, pickle.Pickler, pickle.load, pickle.dump
    pm.__dict__.update({k: getattr(pickle, k) for k in ("HIGHEST_PROTOCOL", "DEFAULT_PROTOCOL", "UnpicklingError")})
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=pm)
    except Exception:  # noqa: BLE001  (truncated, random bytes, …: the plain read's error says it)
        return None
    return (obj, list(dict.fromkeys(missing))) if missing else None


def _installed() -> str:
    """The installed schnetpack's version (2.0.4 has no ``__version__``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("schnetpack")
    except PackageNotFoundError:
        from ..core.compat import spk

        return getattr(spk, "__version__", "?")


def _refuse_missing(path, obj, missing: list[str]):
    """Refuse a file that needs classes this installation lacks, naming the first such module, its class,
    the SchNetPack version it was saved with and what the project rebuilds there."""
    label = _label(path, obj)
    where = None
    if isinstance(obj, nn.Module):
        where = next(((n, m) for n, m in obj.named_modules() if isinstance(m, _Missing)), None)
    full = where[1].missing if where else missing[0]
    module, name = full.rsplit(".", 1)
    if module.split(".")[0] == "schnetpack":
        what = f"{name} ({module}, not in schnetpack {_installed()}), which this version of cgexplain does not rebuild"
    else:
        what = f"{name} ({module}, not importable here: a module of its own), which cgexplain does not rebuild"
    if where is None:
        raise InputError(f"model file {label} uses {what}")
    at = where[0]
    key = next((k for k in sorted(SUPPORTED_AT, key=len, reverse=True) if at == k or at.startswith(k + ".")), None)
    _refuse(label, at, f"is {what}" + (f"; supported there: {SUPPORTED_AT[key]}" if key else ""))


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


def _check_wrappers(net: nn.Module, path, energy_key: str) -> list[tuple[str, nn.Module]]:
    """Input modules must leave the energy alone; postprocessors (when the model applies them) may cast it
    or add per-bead offsets to it. Returns the offset postprocessors (name, module) acting on the energy."""
    ins = list(getattr(net, "input_modules", []))
    names = [type(m).__name__ for m in ins]
    if names != ["PairwiseDistances"]:
        k = next((i for i, n in enumerate(names) if n != "PairwiseDistances"), len(names))
        what = (f"is {names[k]}" if k < len(names) else "is missing")
        _refuse(path, f"input_modules.{k}", f"{what}; the engine builds the graph itself and supports exactly "
                "one input module, PairwiseDistances")
    offsets = []
    if getattr(net, "do_postprocessing", False):
        for k, m in enumerate(getattr(net, "postprocessors", [])):
            name = type(m).__name__
            if name in HARMLESS_POSTPROCESSORS:
                continue
            if name in OFFSET_POSTPROCESSORS:
                if getattr(m, "_property", energy_key) == energy_key:
                    offsets.append((f"postprocessors.{k}", m))
                continue  # offsets of another property leave the energy alone
            _refuse(path, f"postprocessors.{k}", f"is {name}, which changes the energy beyond per-bead offsets; "
                    f"supported postprocessors: {', '.join(HARMLESS_POSTPROCESSORS + OFFSET_POSTPROCESSORS)} "
                    "(set model.do_postprocessing = False before saving to explain the network without it)")
    return offsets


def bead_offsets(offsets: list[tuple[str, nn.Module]], z, path=None) -> np.ndarray:
    """Per-bead energy offsets (N,) of ``AddOffsets`` postprocessors for beads of types ``z``: ``mean``
    (per bead when the property is extensive, else shared out over the N beads) plus ``atomref[z_i]``
    (divided by N when not extensive), exactly what SchNetPack adds to the energy of a frame."""
    z = np.asarray(z, dtype=np.int64).reshape(-1)
    per = np.zeros(len(z), dtype=np.float64)
    for where, m in offsets:
        scale = 1.0 if bool(getattr(m, "is_extensive", True)) else 1.0 / len(z)
        if getattr(m, "add_mean", False):
            mean = torch.as_tensor(m.mean).detach().double().cpu().reshape(-1)
            if mean.numel() != 1:
                _refuse(path, where, f"(AddOffsets) holds {mean.numel()} mean values; the energy has one")
            per += float(mean[0]) * scale
        if getattr(m, "add_atomrefs", False):
            ref = torch.as_tensor(m.atomref).detach().double().cpu().reshape(-1).numpy()
            if int(z.max()) >= len(ref):
                _refuse(path, where, f"(AddOffsets) has atom references up to type {len(ref) - 1}; the frames "
                        f"hold type {int(z.max())}")
            per += ref[z] * scale
    if not np.isfinite(per).all():
        _refuse(path, offsets[0][0], "(AddOffsets) holds NaN or inf offsets")
    return per


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
    if not hasattr(getattr(rep, "embedding", None), "num_embeddings"):
        emb = getattr(rep, "embedding", None)
        _refuse(path, "representation.embedding", f"is {type(emb).__name__} ({type(emb).__module__}); supported "
                f"there: {SUPPORTED_AT['representation.embedding']}")
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
    for name, m in list(ru.items()):  # 2.1/2.2: an empty electronic_embeddings list is bookkeeping only
        if name.rsplit(".", 1)[-1] in EMPTY_LISTS and name not in rr and isinstance(m, nn.ModuleList):
            if len(m):
                _refuse(path, f"{name}.0", f"is {type(m[0]).__name__} ({type(m[0]).__module__}), an electronic "
                        "(charge or spin) embedding, which this version of cgexplain does not rebuild; supported "
                        "there: none (an empty list)")
            del ru[name]
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
        stock = _stock(type(mr)).__name__
        if (stock, "activation") not in IGNORED_SETTINGS and _activation(mu) != _activation(mr):
            _refuse(path, name, f"({type(mu).__name__}) has activation {_activation(mu)}; supported there: "
                    f"{_activation(mr)}")
        su, sr = _settings(mu), _settings(mr)
        for key in sorted(su):  # settings the project's class adds (caches of a faster subclass) do not count
            if key == "activation" or (stock, key) in IGNORED_SETTINGS:
                continue
            if key in EMPTY_LISTS and isinstance(su[key], (list, tuple)) and not su[key]:
                continue  # 2.2's utils.compatibility.load_model gives a 2.0 model a plain empty list
            if key not in sr or not _same_value(su[key], sr[key]):
                _refuse(path, name, f"({type(mu).__name__}) has setting {key!r} = {su[key]!r}; supported there: "
                        f"{sr.get(key, 'none')!r}")


def potential_from_schnetpack(net: nn.Module, z, path=None) -> CGPotential:
    """Check a SchNetPack ``NeuralNetworkPotential`` and return the project's potential with its weights.

    The potential carries ``offsets`` (N,) float64, the per-bead constants the file's postprocessors add to
    the energy (zeros without ``AddOffsets``), ``offsets_from`` (the postprocessors, e.g.
    "postprocessors.1 AddOffsets (mean, atomrefs)"; empty without) and ``spk_version`` (None when the file
    carries none, i.e. SchNetPack 2.0.x)."""
    label = _label(path, net)
    where, head = _energy_head(net, label)
    offsets = _check_wrappers(net, label, head.output_key)
    cfg = read_config(net, label)
    z = np.asarray(z, dtype=np.int64).reshape(-1)
    pot = CGPotential(cfg, z)
    dtype = next(net.parameters()).dtype
    pot = pot.to(dtype)
    compare_modules(net.representation, pot.net.representation, "representation", label)
    compare_modules(head, pot.net.output_modules[0], where, label)
    try:
        pot.net.representation.load_state_dict(net.representation.state_dict(), strict=True)
        pot.net.output_modules[0].load_state_dict(head.state_dict(), strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())[:300]
        raise InputError(f"model file {label}: weights do not fit the rebuilt {cfg.arch}: {msg}") from None
    bad = [k for k, v in pot.net.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise InputError(f"model file {label}: {len(bad)} weight tensor(s) hold NaN or inf ({', '.join(bad[:3])})")
    z_max = int(np.max(z))
    if z_max >= cfg.max_z:
        raise InputError(f"model file {label}: bead type {z_max} is beyond the model's embedding (max_z {cfg.max_z})")
    pot.source = str(path)
    pot.kind = "schnetpack"
    pot.spk_version = spk_version(net)
    pot.offsets = bead_offsets(offsets, z, label)
    pot.offsets_from = "; ".join(
        f"{w} {type(m).__name__} ({', '.join(k for k in ('mean', 'atomrefs') if getattr(m, 'add_' + k, False))})"
        for w, m in offsets)
    object.__setattr__(pot, "original", net)  # not a submodule: it keeps its own dtype and device
    pot.energy_key = head.output_key
    return pot.eval()


def check_same_energy(pot: CGPotential, pos: np.ndarray, box, rtol: float = 1e-8) -> None:
    """Compare the rebuilt network's energy plus the offsets (``pot.offsets``) with the file's own
    SchNetPack model, its offset postprocessors on the energy applied as saved (the casts and offsets of
    other properties left out: they do not change the energy's value), on one frame in float64; a difference means a part the checks did not see: refused in one
    line naming the file and its SchNetPack version."""
    net = getattr(pot, "original", None)
    if net is None:
        return
    import copy

    ref = copy.deepcopy(net).to(dtype=torch.float64, device="cpu").eval()
    if getattr(ref, "do_postprocessing", False):  # the offsets on the energy; the rest was vetted as harmless
        ref.postprocessors = nn.ModuleList([m for m in ref.postprocessors if type(m).__name__ in OFFSET_POSTPROCESSORS
                                            and getattr(m, "_property", pot.energy_key) == pot.energy_key])
    mine = copy.deepcopy(pot).to(dtype=torch.float64, device="cpu").eval()
    x = torch.as_tensor(np.asarray(pos), dtype=torch.float64).reshape(1, -1, 3)
    b = None if box is None else torch.as_tensor(np.asarray(box), dtype=torch.float64)
    offset = float(np.sum(getattr(pot, "offsets", 0.0)))
    with torch.enable_grad():
        e_file = float(ref(mine.inputs(x.clone(), b))[pot.energy_key].detach().sum())
        e_net = float(mine.net(mine.inputs(x.clone(), b))["energy"].detach().sum())
    e_mine = e_net + offset
    if not abs(e_file - e_mine) <= rtol * max(1.0, abs(e_file)):
        parts = f" (network {e_net:.10g} + offsets {offset:.10g})" if offset else ""
        raise InputError(f"model file {_label(pot.source, pot)}: the rebuilt {pot.cfg.arch} gives energy "
                         f"{e_mine:.10g}{parts}, the file's model {e_file:.10g} on the first frame: the model "
                         "holds a part the engine does not know")


__all__ = ["bead_offsets", "check_same_energy", "compare_modules", "load_model", "potential_from_schnetpack",
           "read_config", "spk_version"]
