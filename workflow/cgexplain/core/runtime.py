"""Set-up shared by the long-running, resumable stages: the one logger, per-attempt log files,
fingerprinted work folders (a checkpoint is only resumed by the configuration that made it), and
atomic file writes (npz; model and prior payloads)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterable

HEADER = "==== attempt"


def log(msg: str, stage: str | None = None) -> None:
    """The one progress logger: ``[HH:MM:SS] [stage] message`` on stderr (the rule's log)."""
    tag = f"[{stage}] " if stage else ""
    print(f"[{time.strftime('%H:%M:%S')}] {tag}{msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Log files that keep every attempt
# ---------------------------------------------------------------------------------------------

_ATTEMPT: dict = {}


def attempts_file(log_path: str | Path) -> Path:
    """The file that keeps every attempt of a rule's log (Snakemake deletes the log itself before
    each run; this hard link to it survives)."""
    log_path = Path(log_path)
    return log_path.with_name(f".{log_path.name}.attempts")


def open_attempt_log(log_path: str | Path, command: str) -> int:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so subprocesses too) to
    ``log_path``, appended after the earlier attempts, and return this attempt's number.

    The log and :func:`attempts_file` are one file (a hard link; a copy where links are not
    allowed), so a rerun shows the failed attempt above the new one even though Snakemake removed
    the log. The header line is written by :func:`header` once the stage knows whether it resumes.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    keep = attempts_file(log_path)
    if not keep.exists() and log_path.exists():
        shutil.copyfile(log_path, keep)
    keep.touch()
    if log_path.exists() and not log_path.samefile(keep):
        log_path.unlink()
    if not log_path.exists():
        try:
            os.link(keep, log_path)
        except OSError:
            shutil.copyfile(keep, log_path)
    n = sum(1 for line in keep.read_text(errors="replace").splitlines() if line.startswith(HEADER)) + 1
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush(); sys.stderr.flush()
    os.dup2(fd, 1); os.dup2(fd, 2)
    os.close(fd)
    _ATTEMPT.update(number=n, command=command, written=False)
    return n


def header(mode: str) -> None:
    """Write this attempt's header line once: time, attempt number, ``fresh`` or ``resumed …``,
    command. A no-op when no attempt log is open (the command was run by hand)."""
    if not _ATTEMPT or _ATTEMPT["written"]:
        return
    _ATTEMPT["written"] = True
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{HEADER} {_ATTEMPT['number']} · {stamp} · {mode} · {_ATTEMPT['command']}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Fingerprints and the work folders of resumable stages
# ---------------------------------------------------------------------------------------------

def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (a folder: of its files' names and contents, sorted)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]
    for q in files:
        if path.is_dir():
            h.update(str(q.relative_to(path)).encode())
        with open(q, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def fingerprint(params: dict, files: Iterable[str | Path] = ()) -> str:
    """What determines a stage's result: its parameters, the content of its input files and the
    package version (16 hex digits)."""
    from .. import __version__

    h = hashlib.sha256(json.dumps({"params": params, "version": __version__}, sort_keys=True,
                                  default=str).encode())
    for f in files:
        h.update(file_digest(f).encode())
    return h.hexdigest()[:16]


def claim_work(work: str | Path, fp: str, what: str, also: Iterable[str | Path] = ()) -> bool:
    """Make the folder ``work`` belong to the run whose fingerprint is ``fp``.

    Returns True when ``work`` already holds state of that same run (the caller resumes from it).
    State of another run (another fingerprint, or none recorded) is removed with the paths in
    ``also`` (e.g. a ``.partial`` output), and the reason logged in one line: nothing of it is kept.
    Writes this attempt's log header (:func:`header`).
    """
    work = Path(work)
    stamp = work / "fingerprint"
    old = stamp.read_text().strip() if stamp.exists() else None
    state = work.exists() and any(q.name != "fingerprint" for q in work.iterdir())
    if old == fp and state:
        header(f"resumed ({what}: state in {work} made by this configuration, fingerprint {fp})")
        return True
    if state or any(Path(a).exists() for a in also):
        why = (f"made by a different configuration (fingerprint {old}, now {fp})" if old
               else "with no fingerprint")
        header(f"fresh ({what}: discarded the state in {work}, {why})")
        log(f"{what}: the state in {work} was {why}: starting fresh, nothing of it is kept")
    else:
        header(f"fresh ({what})")
    if work.exists():
        shutil.rmtree(work)
    for a in also:
        a = Path(a)
        if a.is_dir():
            shutil.rmtree(a)
        else:
            a.unlink(missing_ok=True)
    work.mkdir(parents=True)
    stamp.write_text(fp + "\n")
    return False


def release_work(work: str | Path) -> None:
    """Remove a finished stage's work folder (checkpoints, chunks, fingerprint)."""
    shutil.rmtree(work, ignore_errors=True)


def save_npz(path: str | Path, **arrays) -> Path:
    """``np.savez`` atomically (``<name>.tmp.npz``, then renamed): a half-written file never carries the
    final name. Creates the folder."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def save_payload(path: str | Path, payload: dict) -> None:
    """``torch.save`` atomically: a half-written file never carries the final name."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_torch_file(path: str | Path, what: str, expected: str):
    """Whatever ``torch.load`` finds in ``path`` (on the CPU; unpickling runs code: trusted files only).
    Errors name the file in one line (:class:`cgexplain.core.errors.InputError`; missing: also a
    ``FileNotFoundError``): a file that does not exist, a folder, or one that ``torch.load`` cannot read
    (random bytes, truncated, not a torch file), said as not being ``expected``."""
    import torch

    from .errors import InputError, MissingInputError

    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{what} {path} does not exist")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not {expected}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001  (UnpicklingError, EOFError, RuntimeError, zip errors, …)
        msg = " ".join(str(e).split())
        raise InputError(f"{what} {path} cannot be read: not {expected}, or truncated "
                         f"({type(e).__name__}: {msg[:200]})") from None


def read_payload(path: str | Path, fmt: str, what: str) -> dict:
    """A dict written by :func:`save_payload` whose ``format`` is ``fmt``; errors name the file in one
    line (:class:`cgexplain.core.errors.InputError`; missing: also a ``FileNotFoundError``): a file that
    does not exist, that ``torch.load`` cannot read (random bytes, truncated, not a torch file), or
    that holds something else (another format, e.g. a prior file given as a model)."""
    from .errors import InputError

    payload = load_torch_file(path, what, f"a {fmt} file")
    got = payload.get("format") if isinstance(payload, dict) else None
    if got != fmt:
        held = f"a {got} file" if isinstance(got, str) else f"a {type(payload).__name__} without a format"
        raise InputError(f"{what} {path} is not a {fmt} file (it holds {held})")
    return payload


def prepare_stage(out: Path, threads: int | None, device: str, stage: str | None = None,
                  dtype=None) -> tuple[Path, Path, "torch.device"]:
    """Create ``<out dir>/work`` and return (work dir, checkpoint path, torch device).

    Also sets torch's CPU thread count to the rule's ``threads`` when given, asks for deterministic
    kernels, and logs one line naming the device, precision and determinism (``stage`` names it).
    """
    import torch

    from .device import describe, pick_device

    work = Path(out).parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(int(threads))
    # deterministic kernels: with two CPU threads, PyTorch's scatter-adds otherwise make reruns (and
    # chained jobs) differ in the last bits (measured); no cost measured on the CPU. On a GPU an op
    # without a deterministic kernel warns instead of failing.
    # CGEXPLAIN_DETERMINISTIC=0 switches them off, to measure what they cost (benchmarks/gpu_check.py)
    torch.use_deterministic_algorithms(os.environ.get("CGEXPLAIN_DETERMINISTIC", "1") != "0", warn_only=True)
    dev = pick_device(device)
    log(describe(dev, dtype), stage)
    return work, work / "checkpoint.pt", dev


# ---------------------------------------------------------------------------------------------
# Chains of jobs under a wall-time limit
# ---------------------------------------------------------------------------------------------

#: Test hook: with ``CGEXPLAIN_JOB_CHECKPOINTS=N`` (N >= 1) in the environment every job of a chain stops
#: at its N-th checkpoint (its N-th :meth:`JobBudget.spent` call) whatever the clock says, so that how many
#: jobs a chain takes does not depend on the machine's speed (tests/test_chain.py).
CHECKPOINTS_ENV = "CGEXPLAIN_JOB_CHECKPOINTS"


class JobBudget:
    """The wall time one job of a chain may use. A stage calls :meth:`spent` right after each
    checkpoint: True when another unit of work (as long as the longest so far) would overrun it, so
    the job stops there, its work resumed by the next job of the chain. ``seconds=None``: no limit.

    ``checkpoints`` (default: the environment's ``CGEXPLAIN_JOB_CHECKPOINTS``, else None): also stop
    at the ``checkpoints``-th call, whatever the time."""

    def __init__(self, seconds: float | None, checkpoints: int | None = None):
        self.seconds = None if seconds is None or float(seconds) <= 0 else float(seconds)
        self.start = self.last = time.monotonic()
        self.longest = 0.0
        if checkpoints is None and os.environ.get(CHECKPOINTS_ENV, "").strip():
            value = os.environ[CHECKPOINTS_ENV].strip()
            if not value.isdigit():
                raise ValueError(f"{CHECKPOINTS_ENV}={value!r}: expected a whole number of checkpoints >= 1")
            checkpoints = int(value)
        if checkpoints is not None and int(checkpoints) < 1:
            raise ValueError(f"a job must reach at least one checkpoint, got {CHECKPOINTS_ENV}={checkpoints}")
        self.checkpoints = None if checkpoints is None else int(checkpoints)
        self.calls = 0

    def spent(self) -> bool:
        now = time.monotonic()
        self.longest, self.last = max(self.longest, now - self.last), now
        self.calls += 1
        if self.checkpoints is not None and self.calls >= self.checkpoints:
            return True
        return self.seconds is not None and (now - self.start) + self.longest > self.seconds


def add_chain_arguments(ap) -> None:
    """``--max-seconds`` and ``--status`` of the stages that can run as a chain of jobs."""
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="wall time of this job: stop at a checkpoint before it runs out (the next job resumes; "
                         f"{CHECKPOINTS_ENV}=N in the environment: stop at the N-th checkpoint)")
    ap.add_argument("--status", default=None,
                    help="JSON file written at exit: {complete: true|false, ...} (one job of a chain)")


def write_status(path: str | Path | None, complete: bool, **info) -> None:
    """The status file of one job of a chain (atomic): whether the stage's result is complete.

    Status files of later jobs (``job_<j>.json``, j > this job's number) are stale, from a run before
    this one: they are removed, so that the workflow asks for those jobs again."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, _, number = path.stem.rpartition("_")
    if number.isdigit():
        for later in path.parent.glob(f"{prefix}_*{path.suffix}"):
            k = later.stem.rpartition("_")[2]
            if k.isdigit() and int(k) > int(number):
                later.unlink()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"complete": bool(complete), **info}, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def main_chain_result(argv: list[str] | None = None) -> int:
    """``cgexplain chain-result --status job_<k>.json SRC DST [SRC DST ...]``: move the result of a
    completed chain of jobs into place (refuses a status that is not complete)."""
    import argparse

    ap = argparse.ArgumentParser(prog="cgexplain chain-result", description=main_chain_result.__doc__)
    ap.add_argument("--status", required=True, type=Path)
    ap.add_argument("pairs", nargs="+", type=Path, help="SRC DST pairs")
    a = ap.parse_args(argv)
    if len(a.pairs) % 2:
        ap.error("expected SRC DST pairs")
    if not json.loads(a.status.read_text()).get("complete"):
        print(f"cgexplain chain-result: error: {a.status} does not say complete", file=sys.stderr)
        return 2
    for src, dst in zip(a.pairs[::2], a.pairs[1::2]):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        log(f"{src} -> {dst}")
    return 0
