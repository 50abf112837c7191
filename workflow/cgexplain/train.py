"""Force-matching training of a SchNetPack potential on a CG dataset.

Loss: mean squared error of the predicted CG forces (−∂U/∂R by autograd) against the aggregated
reference forces — the force-matching estimator of the potential of mean force. AdamW, a
ReduceLROnPlateau schedule on the validation loss, an exponential moving average (EMA) of the
weights that is used for validation and export, gradient accumulation and early stopping, as in
the paper's public demo.

Delta learning: with ``--prior prior.pt`` (written by ``cgexplain fit-prior``) the network is trained
on F_ref − F_prior, the prior's own forces on the same frames, and the saved model file carries the
prior, so that U = U_prior + U_net is one object for simulation and relevance.

Files: ``--out model.pt`` (the EMA weights with the lowest validation loss, see
:mod:`cgexplain.nn.models`), ``<out dir>/history.csv`` (epoch, train/val force RMSE in kcal/mol/Å,
learning rate, seconds), and a resumable checkpoint ``<out dir>/work/checkpoint.pt`` that a rerun
continues from.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .core.config import load_params
from .core.device import pick_device
from .core.runtime import (
    JobBudget,
    add_chain_arguments,
    claim_work,
    fingerprint,
    log,
    prepare_stage,
    release_work,
    write_status,
)
from .data.dataset import frame_boxes, load_dataset
from .data.sampling import evenly_spaced
from .nn.models import CGPotential, ModelConfig, save_potential
from .nn.neighbors import check_box

TRAIN_KEYS = ("batch_size", "accumulate_grad_batches", "lr", "weight_decay", "lr_factor", "lr_patience",
              "lr_cooldown", "min_lr", "ema_decay", "max_epochs", "early_stopping_patience", "seed")




class TrainingError(RuntimeError):
    """Training met non-finite data, loss or weights: nothing is saved."""


def _require_finite(name: str, arr: torch.Tensor, where: str) -> None:
    bad = ~torch.isfinite(arr.reshape(len(arr), -1)).all(dim=1)
    if bool(bad.any()):
        raise TrainingError(f"{where}: non-finite {name} in {int(bad.sum())} frame(s), the first at training-set "
                            f"row {int(bad.nonzero()[0, 0])}; refusing to train")


def model_config(arch: str, hp: dict) -> ModelConfig:
    return ModelConfig(arch=arch, cutoff=float(hp["cutoff_A"]), n_atom_basis=int(hp["n_atom_basis"]),
                       n_interactions=int(hp["n_interactions"]), n_rbf=int(hp["n_rbf"]),
                       lmax=int(hp.get("lmax", 2)), n_filters=hp.get("n_filters"))


def select_frames(idx: np.ndarray, max_frames: int | None) -> np.ndarray:
    """At most ``max_frames`` of ``idx``, spread evenly over the trajectory."""
    return idx[evenly_spaced(len(idx), max_frames)]


def _force_sse(pot, pos, box, f_ref, create_graph):
    """Σ (F − F_ref)² of a batch (a device scalar) and its number of components; the boxes were checked
    against the cutoff once, on the host, when training started."""
    _, f = pot(pos, box, create_graph=create_graph, check_box=False)
    return ((f - f_ref) ** 2).sum(), f_ref.numel()


def _rows(B, sel):
    return None if B is None else B[sel]


def evaluate(model, X, Fr, Bx, batch_size: int) -> float:
    """Force RMSE (kcal/mol/Å) of ``model`` over the given frames (``Bx`` None: open boundaries). The sum
    stays on the device in float64 (the same additions as a host sum): one host sync per call."""
    sse, n = torch.zeros((), dtype=torch.float64, device=X.device), 0
    for s in range(0, len(X), batch_size):
        sl = slice(s, s + batch_size)
        e, c = _force_sse(model, X[sl], _rows(Bx, sl), Fr[sl], False)
        sse, n = sse + e.detach().double(), n + c
    return (float(sse) / n) ** 0.5


def delta_forces(prior, X: torch.Tensor, F_ref: torch.Tensor, boxes, batch: int = 256) -> torch.Tensor:
    """F_ref − F_prior(X): the forces the network learns when a prior carries part of the energy."""
    from .priors import prior_energy_forces

    out = torch.empty_like(F_ref)
    for s in range(0, len(X), batch):
        sl = slice(s, s + batch)
        _, fp = prior_energy_forces(prior, X[sl], _rows(boxes, sl))
        out[sl] = F_ref[sl] - fp.detach().to(F_ref.dtype)
    return out


def train(dataset: Path, arch: str, hp: dict, p: dict, out: Path, device: str = "auto",
          threads: int | None = None, prior_path: Path | None = None, max_seconds: float | None = None) -> dict:
    """Train until early stopping or ``max_epochs``; resumable per epoch. With ``max_seconds`` (one
    job of a chain) stop after the epoch past which another would overrun it: returns ``complete``
    False and writes no model; the next call resumes from the checkpoint."""
    out = Path(out)
    work, ckpt_path, dev = prepare_stage(out, threads, device, "train", "float32")
    # RNG states and kernels are device-specific: a checkpoint resumes on its own device type
    fp = fingerprint({"arch": arch, "hparams": hp, "train": p, "device": dev.type},
                     [dataset] + ([prior_path] if prior_path else []))
    resume = claim_work(work, fp, f"training {arch}")
    torch.manual_seed(int(p["seed"]))

    data = load_dataset(dataset)
    tr = select_frames(data["train_idx"], p.get("max_train_frames"))
    va = select_frames(data["val_idx"], p.get("max_val_frames"))
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=dev)  # noqa: E731
    boxes = frame_boxes(data)
    box_t = (lambda idx: None) if boxes is None else (lambda idx: as_t(boxes[idx]))  # noqa: E731
    Xtr, Ftr, Btr = as_t(data["coords"][tr]), as_t(data["forces"][tr]), box_t(tr)
    Xva, Fva, Bva = as_t(data["coords"][va]), as_t(data["forces"][va]), box_t(va)
    # non-finite coordinates and forces are refused by load_dataset, naming the file and frame
    prior = None
    if prior_path is not None:
        from .priors import read_prior_file

        prior = read_prior_file(prior_path).to(dev)
        Ftr, Fva = delta_forces(prior, Xtr, Ftr, Btr), delta_forces(prior, Xva, Fva, Bva)
        for arr in (Ftr, Fva):
            _require_finite("F_ref − F_prior", arr, f"{dataset} with the prior {prior_path}")
        log(f"delta learning on F_ref - F_prior ({prior.kind} prior from {prior_path})")

    cfg = model_config(arch, hp)
    if boxes is not None:  # every frame's box against the cutoff, once, on the host (no device sync per batch)
        check_box(torch.as_tensor(boxes[np.concatenate([tr, va])].min(0)), cfg.cutoff)
    pot = CGPotential(cfg, data["z"]).to(dev)
    ema = AveragedModel(pot, multi_avg_fn=get_ema_multi_avg_fn(float(p["ema_decay"])), use_buffers=True)
    opt = torch.optim.AdamW(pot.parameters(), lr=float(p["lr"]), weight_decay=float(p["weight_decay"]))
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=float(p["lr_factor"]), patience=int(p["lr_patience"]),
        cooldown=int(p["lr_cooldown"]), min_lr=float(p["min_lr"]))
    state = {"epoch": 0, "best_val": float("inf"), "best_epoch": -1, "best_state": None, "history": []}
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        pot.load_state_dict(ck["model"]); ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        torch.set_rng_state(ck["rng"].cpu())
        if dev.type == "cuda" and ck.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ck["cuda_rng"].cpu(), dev)
        state = ck["state"]
        log(f"resuming {arch} from epoch {state['epoch']} (best val RMSE {state['best_val']:.4f})")

    bs, acc = int(p["batch_size"]), max(1, int(p["accumulate_grad_batches"]))
    n_params = sum(q.numel() for q in pot.parameters())
    log(f"{arch}: {n_params} parameters, {len(tr)} train / {len(va)} val frames, "
        f"{data['coords'].shape[1]} beads, cutoff {cfg.cutoff} Å, device {dev}")
    max_epochs, patience = int(p["max_epochs"]), int(p["early_stopping_patience"])
    budget = JobBudget(max_seconds)
    running = lambda: state["epoch"] < max_epochs and state["epoch"] - state["best_epoch"] <= patience  # noqa: E731
    while running():
        t0 = time.perf_counter()
        pot.train()
        perm = torch.randperm(len(Xtr), device=dev)
        sse_t, cnt = torch.zeros((), dtype=torch.float64, device=dev), 0  # on the device: no sync per batch
        opt.zero_grad(set_to_none=True)
        n_batches = (len(perm) + bs - 1) // bs
        for b in range(n_batches):
            sel = perm[b * bs:(b + 1) * bs]
            e, c = _force_sse(pot, Xtr[sel], _rows(Btr, sel), Ftr[sel], True)
            (e / c / acc).backward()
            sse_t, cnt = sse_t + e.detach().double(), cnt + c
            if (b + 1) % acc == 0 or b + 1 == n_batches:
                opt.step(); opt.zero_grad(set_to_none=True)
                ema.update_parameters(pot)
        pot.eval()
        sse = float(sse_t)
        val = evaluate(ema.module, Xva, Fva, Bva, bs)
        if not (np.isfinite(sse) and np.isfinite(val)):
            raise TrainingError(f"{arch} on {dataset}: non-finite loss at epoch {state['epoch'] + 1} (train SSE "
                                f"{sse:.4g}, val RMSE {val:.4g}); nothing saved, lower train.lr")
        sched.step(val)
        state["epoch"] += 1
        if val < state["best_val"]:
            state.update(best_val=val, best_epoch=state["epoch"],
                         best_state=copy.deepcopy({k: v.cpu() for k, v in ema.module.net.state_dict().items()}))
        lr = opt.param_groups[0]["lr"]
        row = {"epoch": state["epoch"], "train_rmse": (sse / cnt) ** 0.5, "val_rmse": val, "lr": lr,
               "seconds": time.perf_counter() - t0}
        state["history"].append(row)
        log(f"epoch {row['epoch']:5d}/{max_epochs}  train RMSE {row['train_rmse']:.4f}  val RMSE {val:.4f} "
            f"kcal/mol/Å  lr {lr:.2e}  {row['seconds']:.1f}s")
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": pot.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "rng": torch.get_rng_state(), "state": state,
                    "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None}, tmp)
        tmp.replace(ckpt_path)
        if running() and budget.spent():
            log(f"job time nearly used: stopping after epoch {state['epoch']}; the next job resumes here")
            return {"complete": False, "epochs": state["epoch"]}
    stop = "early stopping" if state["epoch"] < max_epochs else "max_epochs reached"
    log(f"{stop}: best val RMSE {state['best_val']:.4f} at epoch {state['best_epoch']}")

    with open(out.parent / "history.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(state["history"][0]))
        w.writeheader(); w.writerows(state["history"])
    meta = {"arch": arch, "dataset": str(dataset), "best_val_rmse": state["best_val"],
            "best_epoch": state["best_epoch"], "epochs": state["epoch"], "n_train": len(tr),
            "n_val": len(va), "masses": data["masses"].tolist(), "periodic": bool(data["periodic"])}
    best = state["best_state"]
    if best is None or not all(bool(torch.isfinite(v).all()) for v in best.values() if v.is_floating_point()):
        raise TrainingError(f"{arch} on {dataset}: no finite weights to save (best val RMSE {state['best_val']})")
    pot = pot.cpu()
    pot.prior = None if prior is None else prior.cpu()
    save_potential(out, pot, meta=meta, state_dict=best)
    release_work(work)
    return {**meta, "complete": True}


def fit_prior_file(dataset: Path, params: dict, out: Path, table: Path | None = None) -> list[dict]:
    """Fit the prior ``params['kind']`` to the training frames of ``dataset``; write it (and its table)."""
    from .priors import fit_prior, write_prior_file

    data = load_dataset(dataset)
    if "temperature_K" not in data:
        raise ValueError(f"{dataset}: has no temperature_K, which the prior's Boltzmann inversion needs")
    T = float(data["temperature_K"])
    rest = {k: v for k, v in params.items() if k != "kind"}
    prior = fit_prior(params["kind"], data, rest, T)
    rows = prior.describe()
    write_prior_file(out, prior, {"dataset": str(dataset), "temperature_K": T, "params": params})
    if table is not None:
        with open(table, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["term", "types", "params", "n_samples"])
            w.writeheader()
            w.writerows({**r, "params": json.dumps(r["params"], sort_keys=True)} for r in rows)
    return rows


def main_fit_prior(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain fit-prior", description="Fit a prior to a CG dataset.")
    ap.add_argument("--dataset", required=True, type=Path)
    ap.add_argument("--params", required=True, help="JSON: the system's prior block (kind + its parameters)")
    ap.add_argument("--out", required=True, type=Path, help="prior file to write (prior.pt)")
    ap.add_argument("--table", type=Path, default=None, help="CSV of the fitted parameters")
    a = ap.parse_args(argv)
    rows = fit_prior_file(a.dataset, load_params(a.params, ("kind",), "prior params"), a.out, a.table)
    for r in rows[:12]:
        log(f"{r['term']:<10} {r['types']:<20} {r['params']}")
    log(f"{len(rows)} parameter sets -> {a.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cgexplain train", description="Force-matching training of one model.")
    ap.add_argument("--dataset", required=True, type=Path)
    ap.add_argument("--arch", required=True, choices=["painn", "so3net", "schnet"])
    ap.add_argument("--hparams", required=True, help="JSON: cutoff_A, n_atom_basis, n_interactions, n_rbf[, lmax]")
    ap.add_argument("--params", required=True, help="JSON: the train section plus seed")
    ap.add_argument("--prior", type=Path, default=None, help="prior file (cgexplain fit-prior): delta learning")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    add_chain_arguments(ap)
    a = ap.parse_args(argv)
    pick_device(a.device)  # a device this machine cannot give: one error line before anything is read
    hp = load_params(a.hparams, ("cutoff_A", "n_atom_basis", "n_interactions", "n_rbf"), "model hparams")
    p = load_params(a.params, TRAIN_KEYS, "train params")
    try:
        info = train(a.dataset, a.arch, hp, p, a.out, a.device, p.get("num_threads") or a.threads, a.prior,
                     a.max_seconds)
        write_status(a.status, info["complete"], epochs=info["epochs"])
    except (TrainingError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"cgexplain train: error: {exc}", file=sys.stderr)
        return 2
    return 0
