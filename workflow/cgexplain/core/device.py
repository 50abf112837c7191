"""The compute device of a stage: ``auto``, ``cpu`` or ``cuda`` resolved the same way in the rules and the stages.

``auto`` is CUDA when torch can use a GPU here, else the CPU; ``cuda`` without a usable GPU is one error
line (:class:`DeviceError`), not a traceback. The rules ask the scheduler for a GPU (``gpu=1``) exactly
when the stage will use one (:func:`gpu_request`). Every stage logs one line naming its device,
precision and determinism (:func:`describe`).
"""

from __future__ import annotations

import functools
import shutil
import subprocess

from .errors import InputError

DEVICES = ("auto", "cpu", "cuda")


class DeviceError(InputError):
    """A device was asked for that this machine cannot give."""


def cuda_usable() -> bool:
    """torch is built with CUDA and sees at least one GPU; where torch is not installed (the workflow's own
    environment, the reference-MD stage's), whether ``nvidia-smi`` lists a GPU."""
    try:
        import torch
    except ImportError:
        return nvidia_gpus() > 0
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


@functools.lru_cache(maxsize=None)
def nvidia_gpus() -> int:
    """The number of GPUs ``nvidia-smi -L`` lists (0 without the driver's tool)."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        out = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def pick_device(requested: str = "auto") -> "torch.device":  # noqa: F821
    """'auto' → CUDA when usable, else CPU; 'cpu'/'cuda' (or 'cuda:N') force the choice."""
    import torch

    requested = str(requested)
    if requested == "auto":
        return torch.device("cuda" if cuda_usable() else "cpu")
    try:
        dev = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"device {requested!r}: expected one of {DEVICES} (or cuda:N)") from None
    if dev.type == "cuda" and not cuda_usable():
        why = "torch is a CPU build" if torch.version.cuda is None else "no GPU is visible (CUDA_VISIBLE_DEVICES?)"
        raise DeviceError(f"device {requested!r} requested but CUDA is not usable here: {why} "
                          f"(torch {torch.__version__}); use device: auto or cpu")
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {requested!r}: expected one of {DEVICES} (or cuda:N)")
    return dev


def resolve_dtype(name: str, dev: "torch.device") -> "torch.dtype":  # noqa: F821
    """The relevance precision: ``float64`` / ``float32`` as named; ``auto`` = float64 on the CPU (where it
    costs little) and float32 on a GPU (float64 runs 16–64× slower on consumer and L4/A10-class cards)."""
    import torch

    if name == "auto":
        return torch.float32 if dev.type == "cuda" else torch.float64
    if name not in ("float32", "float64"):
        raise DeviceError(f"dtype {name!r}: expected auto, float32 or float64")
    return getattr(torch, name)


def openmm_platform_problem(name: str) -> str | None:
    """Why OpenMM's platform ``name`` cannot run here (its first error line), or None when a Context on a
    one-particle System can be made on it (an empty System is refused by every platform)."""
    import openmm

    try:
        system = openmm.System()
        system.addParticle(1.0)
        context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(name))
        del context
    except Exception as e:  # noqa: BLE001  (OpenMMException, or a driver error)
        return (str(e).strip().splitlines() or [type(e).__name__])[0]
    return None


@functools.lru_cache(maxsize=None)
def _openmm_gpu_usable() -> bool:
    try:
        import openmm  # noqa: F401
    except ImportError:  # the workflow's own environment: the driver's view of the GPUs
        return nvidia_gpus() > 0
    return any(openmm_platform_problem(name) is None for name in ("CUDA", "OpenCL"))


def gpu_request(device: str, local_exec: bool = True, engine: str = "torch") -> int:
    """GPUs a rule asks the scheduler for: 1 exactly when its stage will run on a GPU.

    ``engine="torch"`` (training, CG simulation, relevance): ``device`` is ``auto``/``cpu``/``cuda``.
    ``engine="openmm"`` (reference MD): ``device`` is ``md.platform`` (``auto``, ``CUDA``, ``OpenCL``, ``CPU``,
    ``Reference``). A forced CPU → 0, a forced GPU → 1. ``auto`` → 1 when jobs run elsewhere (a cluster
    executor: the job lands on a node of the profile's GPU partition, where ``auto`` resolves to the GPU),
    and, when they run here, when this machine can use a GPU; else 0, so that a CPU-only workstation
    never waits for a GPU it does not have.
    """
    if device in ("cpu", "CPU", "Reference"):
        return 0
    if device in ("cuda", "CUDA", "OpenCL") or not local_exec:
        return 1
    return int(cuda_usable() if engine == "torch" else _openmm_gpu_usable())


def describe(dev: "torch.device", dtype: "torch.dtype | str | None" = None) -> str:  # noqa: F821
    """One line: the device (GPU name, or CPU threads), the precision and whether kernels are deterministic."""
    import torch

    if dev.type == "cuda":
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        where = f"cuda:{idx} ({torch.cuda.get_device_name(idx)}, CUDA {torch.version.cuda})"
    else:
        where = f"cpu ({torch.get_num_threads()} threads)"
    prec = "" if dtype is None else f", {str(dtype).replace('torch.', '')}"
    det = "on" if torch.are_deterministic_algorithms_enabled() else "off"
    return f"device {where}{prec}, deterministic kernels {det}"
