"""The CUDA paths, run on the CPU under a device check (tests/pretend_cuda.py): every tensor the code
makes must be on the device of its inputs, as a GPU demands; and the hot loops wait for the device
(host syncs) only where they have to: once per integrator check interval, once per training epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cgexplain.core.device import DeviceError, gpu_request, pick_device, resolve_dtype
from cgexplain.nn.models import CGPotential, ModelConfig
from cgexplain.relevance.run import compute_frame
from cgexplain.simulate import LangevinBAOAB
from pretend_cuda import DeviceMismatch, PretendCuda, pretend_cuda

ARCHS = ("painn", "so3net", "schnet")
N, BOX = 16, 9.0


def frames(n_frames: int = 2, seed: int = 0) -> np.ndarray:
    """Bead positions on a jittered 3×3×2 grid in a 9 Å box (no two beads closer than ~2 Å)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(3), np.arange(3), np.arange(2), indexing="ij"), -1).reshape(-1, 3)[:N]
    return (grid * 3.0 + 1.0 + rng.uniform(-0.4, 0.4, (n_frames, N, 3))) % BOX


def potential(arch: str, seed: int = 0) -> CGPotential:
    torch.manual_seed(seed)
    return CGPotential(ModelConfig(arch, cutoff=4.0, n_atom_basis=8, n_interactions=2, n_rbf=6), [6] * N)


def test_the_check_catches_a_cpu_tensor_meeting_a_cuda_one():
    with PretendCuda() as mode:
        a = torch.ones(3, device="cuda")
        assert a.device.type == "cuda" and a.is_cuda
        assert (a * torch.tensor(2.0)).device.type == "cuda"         # a 0-dim CPU scalar is allowed
        with pytest.raises(DeviceMismatch, match="one device"):
            a + torch.ones(3)                                       # a CPU vector is not
        with pytest.raises(DeviceMismatch, match="in-place"):
            torch.zeros(()).add_(a.sum())                            # nor a CPU output with CUDA inputs
        with pytest.raises(DeviceMismatch):
            torch.zeros(3)[0] += a.sum()
        with pytest.raises(DeviceMismatch, match="generator"):
            torch.randn(3, device="cuda", generator=torch.Generator())
        assert mode.syncs == 0
        float(a.sum()), a.nonzero(), a.cpu()
        assert mode.syncs == 3


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_and_backward_on_the_device(arch):
    ref = potential(arch)
    pos = frames()
    e_ref, f_ref = ref(torch.as_tensor(pos, dtype=torch.float32), torch.full((3,), BOX), create_graph=True)
    (f_ref ** 2).sum().backward()
    with PretendCuda():
        pot = potential(arch).to("cuda")
        x = torch.as_tensor(pos, dtype=torch.float32, device="cuda")
        e, f = pot(x, torch.full((3,), BOX, device="cuda"), create_graph=True)
        (f ** 2).sum().backward()                                     # a training step's double backward
    torch.testing.assert_close(e, e_ref)
    torch.testing.assert_close(f, f_ref)
    for (name, q), q_ref in zip(pot.named_parameters(), ref.parameters()):
        assert (q.grad is None) == (q_ref.grad is None), name
        if q.grad is not None:
            torch.testing.assert_close(q.grad, q_ref.grad, msg=name)


def test_one_training_step_on_the_device():
    from cgexplain.train import _force_sse

    pos, f_target = frames(4), np.random.default_rng(1).normal(size=(4, N, 3))
    with PretendCuda() as mode:
        pot = potential("painn").to("cuda")
        opt = torch.optim.AdamW(pot.parameters(), lr=1e-3)
        X = torch.as_tensor(pos, dtype=torch.float32, device="cuda")
        F = torch.as_tensor(f_target, dtype=torch.float32, device="cuda")
        B = torch.full((4, 3), BOX, device="cuda")
        sse = torch.zeros((), dtype=torch.float64, device="cuda")
        before = mode.syncs
        for sel in (slice(0, 2), slice(2, 4)):
            e, c = _force_sse(pot, X[sel], B[sel], F[sel], True)
            (e / c).backward()
            opt.step(), opt.zero_grad(set_to_none=True)
            sse = sse + e.detach().double()
        per_batch = (mode.syncs - before) / 2
    # the neighbour list's compaction (nonzero) is the one sync a batch needs; no loss is read back
    assert per_batch <= 1, mode.sync_ops


@pytest.mark.parametrize("arch", ARCHS)
def test_integrator_steps_sync_once_per_check_interval(arch, monkeypatch):
    pos = frames(3)
    every, n_steps = 5, 20
    with pretend_cuda(monkeypatch) as mode:
        pot = potential(arch).to("cuda")
        for q in pot.parameters():
            q.requires_grad_(False)
        box = torch.full((3,), BOX, device="cuda")

        def force_fn(x):
            e, f = pot(x.to(torch.float32), box, check_box=False)
            return e.detach().to(x.dtype), f.detach().to(x.dtype)

        gen = torch.Generator(device="cuda")
        gen.manual_seed(0)
        integ = LangevinBAOAB(force_fn, np.full(N, 16.0), 0.002, 1.0, 300.0, box=np.full(3, BOX), generator=gen,
                              temperature_band=(0.01, 100.0), check_every=every, max_step_A=0.4)
        x = torch.as_tensor(pos, dtype=torch.float64, device="cuda")
        v = integ.init_velocities(x)
        _, f = force_fn(x)
        x, v, _, f = integ.run(x, v, f, every)                       # warm-up: one-time caches
        start = mode.syncs
        x, v, e, f = integ.run(x, v, f, n_steps)
        assert x.device.type == "cuda"                               # (SchNetPack's scripted scatter_add
                                                                     # escapes the mode; its output is untagged)
        syncs = [op for op in mode.sync_ops[start:] if op != "nonzero"]
        compactions = mode.sync_ops[start:].count("nonzero")
    # one host sync per check interval (the sanity checks), plus the neighbour list's compaction per step
    assert len(syncs) == n_steps // every, syncs
    assert compactions == n_steps


@pytest.mark.parametrize("arch", ARCHS)
def test_one_relevance_frame_on_the_device(arch):
    pot_cpu = potential(arch).double()
    pos = frames(1)[0]
    ref = compute_frame(pot_cpu, pos, np.full(3, BOX), 0.1, torch.float64, torch.device("cpu"))
    with PretendCuda():
        pot = potential(arch).double().to("cuda")
        got = compute_frame(pot, pos, np.full(3, BOX), 0.1, torch.float64, torch.device("cuda"))
    np.testing.assert_allclose(got["pair_r"], ref["pair_r"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["trip_r"], ref["trip_r"], rtol=1e-10, atol=1e-12)


def test_device_and_precision_resolve_the_same_way_in_rules_and_stages(monkeypatch):
    import cgexplain.core.device as dev

    monkeypatch.setattr(dev, "cuda_usable", lambda: False)
    assert pick_device("auto").type == "cpu" and gpu_request("auto") == 0
    assert gpu_request("auto", local_exec=False) == 1 and gpu_request("cpu", local_exec=False) == 0
    assert gpu_request("cuda") == 1
    with pytest.raises(DeviceError, match="CUDA is not usable here"):
        pick_device("cuda")
    with pytest.raises(DeviceError, match="expected one of"):
        pick_device("tpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float64
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float32
    monkeypatch.setattr(dev, "cuda_usable", lambda: True)
    assert pick_device("auto").type == "cuda" and gpu_request("auto") == 1
    assert gpu_request("CPU", engine="openmm") == 0 and gpu_request("CUDA", engine="openmm") == 1


def test_cuda_without_a_gpu_is_one_error_line(tmp_path):
    import subprocess
    import sys

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    common = ["--dataset", str(tmp_path / "none.npz"), "--params", "{}", "--out", str(tmp_path / "out"),
              "--device", "cuda"]
    for cmd, own in (("train", ["--arch", "painn", "--hparams", "{}"]), ("simulate", ["--model", "m.pt"])):
        r = subprocess.run([sys.executable, "-m", "cgexplain", cmd, *own, *common], capture_output=True, text=True)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert lines[-1].startswith(f"cgexplain {cmd}: error: device 'cuda' requested but CUDA is not usable"), r.stderr
