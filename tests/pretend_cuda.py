"""Run CUDA code paths on the CPU and catch what a GPU would refuse: tensors on the wrong device.

:class:`PretendCuda` is a ``TorchFunctionMode``. Inside it, tensors asked for on ``cuda`` (``.to``,
``.cuda``, a factory's ``device=``, ``Module.to``) stay in CPU memory but are tagged ``cuda``, and
``tensor.device`` / ``is_cuda`` report it; tensors made on the CPU (a factory without a CUDA device,
``.cpu()``, NumPy) are tagged ``cpu``; results of an operation on a ``cuda`` tensor are ``cuda``.
Tensors that autograd makes without passing through torch functions are untagged (compatible with
both). Like PyTorch on a GPU it refuses:

* an operation mixing a ``cuda`` tensor with a ``cpu`` tensor of one or more dimensions (0-dim CPU
  tensors are scalars and allowed, as on a GPU);
* an in-place write into a ``cpu`` tensor with any ``cuda`` operand (also 0-dim);
* a random draw on a ``cuda`` device with a CPU generator (and the reverse).

It also counts host synchronisations, the operations that on a GPU wait for the device: ``item``,
``tolist``, ``bool``/``int``/``float`` of a tensor, ``nonzero``, boolean-mask indexing, ``unique``,
``masked_select``, copies to the CPU (``.cpu()``, ``.numpy()``), ``equal``/``allclose``.

The plain ``meta`` device does not get this far: the neighbour list's ``nonzero`` has no meta kernel.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager

import torch
from torch.overrides import TorchFunctionMode

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")

FACTORIES = {
    "zeros", "ones", "empty", "full", "arange", "range", "linspace", "logspace", "eye", "tensor", "as_tensor",
    "asarray", "rand", "randn", "randint", "randperm", "normal", "scalar_tensor", "from_numpy", "empty_strided",
    "tril_indices", "triu_indices", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
    "randn_like", "randint_like",
}
INSPECT = {"_parse_to", "_has_compatible_shallow_copy_type", "is_floating_point", "is_complex", "dim", "size",
           "numel", "stride", "data_ptr", "element_size", "is_contiguous", "__len__", "__hash__", "requires_grad_",
           "untyped_storage", "storage_offset", "get_device"}
INPLACE_DUNDERS = {"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__",
                   "__ipow__", "__imatmul__", "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__"}
SYNCS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy", "nonzero", "unique",
         "unique_consecutive", "masked_select", "equal", "allclose", "__repr__", "__format__", "argwhere"}


class DeviceMismatch(RuntimeError):
    """What PyTorch raises on a GPU for tensors on different devices."""


def _tensors(obj, out):
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors(o, out)
    return out


def _name(func) -> str:
    return getattr(func, "__name__", str(func))


class PretendCuda(TorchFunctionMode):
    def __enter__(self):
        # nn.Parameter's own __deepcopy__ (AveragedModel, copy.deepcopy of a model) builds the copy outside
        # torch functions: carry the device tag over to it
        real = self._real_deepcopy = torch.nn.Parameter.__deepcopy__

        def deepcopy(param, memo):
            out = real(param, memo)
            where = self.where(param)
            return out if where is None else self.tag(out, where)

        torch.nn.Parameter.__deepcopy__ = deepcopy
        return super().__enter__()

    def __exit__(self, *exc):
        torch.nn.Parameter.__deepcopy__ = self._real_deepcopy
        return super().__exit__(*exc)

    def __init__(self):
        super().__init__()
        self._tags: dict[int, tuple[weakref.ref, str]] = {}
        self._generators: set[int] = set()
        self.syncs = 0
        self.sync_ops: list[str] = []
        self._Generator = torch.Generator  # the real class (pretend_cuda may patch torch.Generator)

    # ---- tags ------------------------------------------------------------------------------------
    def tag(self, t: torch.Tensor, where: str) -> torch.Tensor:
        key = id(t)
        self._tags[key] = (weakref.ref(t, lambda _, k=key: self._tags.pop(k, None)), where)
        return t

    def where(self, t: torch.Tensor) -> str | None:
        hit = self._tags.get(id(t))
        return hit[1] if hit is not None and hit[0]() is t else None

    def generator(self, device="cuda") -> torch.Generator:
        """A generator that counts as one on ``device`` (torch.Generator(device='cuda') on a CPU build)."""
        g = self._Generator()
        if torch.device(device).type == "cuda":
            self._generators.add(id(g))
        return g

    def _generator_device(self, g) -> str:
        return "cuda" if id(g) in self._generators else "cpu"

    def _sync(self, name: str) -> None:
        self.syncs += 1
        self.sync_ops.append(name)

    # ---- dispatch --------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        name = _name(func)
        if name == "__get__":
            owner = getattr(func, "__self__", None)
            if owner is torch.Tensor.device:
                return CUDA if self.where(args[0]) == "cuda" else CPU
            if owner is torch.Tensor.is_cuda:
                return self.where(args[0]) == "cuda"
        if name in ("to", "cuda", "cpu") and args and isinstance(args[0], torch.Tensor):
            return self._move(func, name, args, kwargs)
        if name in INSPECT:                                  # no arithmetic on the data: nothing to check
            return func(*args, **kwargs)
        if name == "copy_" and len(args) > 1:                # a copy between devices is legal
            if self.where(args[0]) == "cpu" and self.where(args[1]) == "cuda":
                self._sync("copy_ to the host")
            return func(*args, **kwargs)
        return self._op(func, name, args, kwargs)

    def _move(self, func, name, args, kwargs):
        """``.to`` / ``.cuda`` / ``.cpu``: a new tensor tagged with the device asked for (kept in CPU memory)."""
        t, rest = args[0], list(args[1:])
        dtype, copy = None, bool(kwargs.get("copy", False))
        if name == "cuda":
            target = "cuda"
        elif name == "cpu":
            target = "cpu"
        elif rest and isinstance(rest[0], torch.Tensor):        # .to(other): other's device and dtype
            other = rest[0]
            target, dtype = self.where(other) or "cpu", other.dtype
        else:
            device, dtype, _, _ = torch._C._nn._parse_to(*rest, **kwargs)
            target = None if device is None else device.type
        if target is None:
            return self._op(func, name, args, kwargs)
        if target == "cpu" and self.where(t) == "cuda":
            self._sync(name)
        out = t.to(dtype=dtype, copy=copy) if dtype is not None else t
        if isinstance(t, torch.nn.Parameter) and out is t and target == "cuda":
            return self.tag(t, "cuda")                       # Module.to(cuda): the parameter itself moves
        if out is t:
            out = t.view_as(t)                               # .to(another device) is a new tensor
        return self.tag(out, target)

    def _op(self, func, name, args, kwargs):
        ins = _tensors(args, []) + _tensors(kwargs, [])
        tags = [(t, self.where(t)) for t in ins]
        on_cuda = any(w == "cuda" for _, w in tags)
        if on_cuda and name in SYNCS:
            self._sync(name)
        if on_cuda and name in ("__getitem__", "__setitem__", "index_put_", "index_put") and \
                any(t.dtype == torch.bool and t.dim() > 0 for t in ins[1:]):
            self._sync(f"{name}[bool mask]")
        device = kwargs.get("device")
        want = None
        if device is not None:
            want = torch.device(device).type
            if want == "cuda":
                kwargs["device"] = "cpu"
        elif name in FACTORIES and not ins:
            want = "cpu"
        gen = kwargs.get("generator")
        if gen is not None:
            where_gen = self._generator_device(gen)
            draw_on = want or ("cuda" if on_cuda else "cpu")
            if where_gen != draw_on:
                raise DeviceMismatch(f"{name}: a {where_gen} generator for a draw on {draw_on}")
        if on_cuda:
            cpu_nd = [t for t, w in tags if w == "cpu" and t.dim() > 0]
            if cpu_nd and name not in ("__get__", "__set__"):
                raise DeviceMismatch(f"{name}: expected all tensors on one device, found cuda and cpu "
                                     f"(a cpu tensor of shape {tuple(cpu_nd[0].shape)})")
            inplace = (name.endswith("_") and not name.endswith("__")) or name in INPLACE_DUNDERS
            if inplace and ins and self.where(ins[0]) == "cpu":
                raise DeviceMismatch(f"{name}: in-place write into a cpu tensor with cuda operands")
            if "out" in kwargs and isinstance(kwargs["out"], torch.Tensor) and self.where(kwargs["out"]) == "cpu":
                raise DeviceMismatch(f"{name}: a cpu out= tensor with cuda operands")
        out = func(*args, **kwargs)
        result = want if want is not None else ("cuda" if on_cuda else None)
        if result is not None:
            for t in _tensors(out, []):
                if self.where(t) is None or result == "cuda":
                    self.tag(t, result)
        elif name in ("from_numpy", "numpy"):
            for t in _tensors(out, []):
                self.tag(t, "cpu")
        return out


@contextmanager
def pretend_cuda(monkeypatch=None):
    """The mode, with ``torch.Generator(device='cuda')`` giving a generator that counts as a CUDA one."""
    mode = PretendCuda()
    real = torch.Generator
    if monkeypatch is not None:
        monkeypatch.setattr(torch, "Generator", lambda device="cpu": mode.generator(device))
    try:
        with mode:
            yield mode
    finally:
        if monkeypatch is not None:
            monkeypatch.setattr(torch, "Generator", real)
