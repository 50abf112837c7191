"""Route (a) to NTL9 reference data: the published Cα training set of Majewski et al. 2023.

Majewski, Pérez, Thölke, Doerr, Charron, Giorgino, Husic, Clementi, Noé, De Fabritiis, "Machine
learning coarse-grained potentials of protein thermodynamics", Nat. Commun. 14, 5739 (2023).
This module fetches the published NumPy files, checks them without reading them into memory, and
writes them through :func:`cgexplain.data.dataset.write_dataset` as the project's CG dataset.

What is published, and where it was read (GitHub, read through the stored-code index):

* **URLs** — ``torchmd/torchmd-protein-thermodynamics``, ``Datasets/README.md`` ("Training data"
  table): ``pub.htmd.org/protein_thermodynamics_data/training_data/<name>_ca_<key>.npy`` with
  ``<key>`` in coords, forces, deltaforces, embeddings; the README's links carry no scheme, one
  earlier revision of it writes ``http://pub.htmd.org/...``, and ``Tutorials/1-Tutorial-CG-NNP-
  Training.ipynb`` fetches them with ``wget pub.htmd.org/...`` (plain HTTP). Hence
  :data:`PUBLISHED_BASE_URL`; :func:`published_urls` builds the four URLs of a protein. Sizes of the
  NTL9 files are not stated there (the raw NTL9 trajectories are a 38 GB archive; ~2.4 M frames).
* **coords / forces layout** — (F, N, 3), one Cα bead per residue: ``torchmd/torchmd-cg``
  ``tutorial/Chignolin_Coarse-Grained_Tutorial.ipynb`` loads ``*_ca_coords.npy`` and sets
  ``mol.coords = np.moveaxis(arr, 0, -1)`` (moleculekit's (N, 3, F)), and
  ``torchmd_cg/utils/make_deltaforces.py`` indexes ``coords[:, bond, :]`` and requires
  ``forces.shape == coords.shape``; so does ``torchmd/torchmd-net`` ``torchmdnet/datasets/custom.py``
  (``Custom``, the loader of the tutorial's ``train.yaml`` with ``dataset: Custom``), which asserts
  ``coord_data.shape == force_data.shape``.
* **embeddings layout** — (N,), one integer per bead, shared by all frames: ``Custom`` reads
  ``np.load(embed_file).astype(int)``, asserts ``coord_data.shape[1] == embed_data.shape[0]`` and
  broadcasts it over the frames. This loader also accepts (1, N) and (F, N) (all rows equal).
* **embedding convention** — ``Tutorials/1-Tutorial-CG-NNP-Training.ipynb``: ``AA2INT`` (copied in
  :data:`AA2INT`: ALA 1, GLY 2, PHE 3, TYR 4, ASP 5, GLU 6, TRP 7, PRO 8, ASN 9, GLN 10, HIS/HSE/HSD
  11, SER 12, THR 13, VAL 14, MET 15, CYS 16, NLE 17, ARG 19, LYS 20, LEU 21, ILE 22); checked
  against ``Tutorials/2-Tutorial-CG-Simulation.ipynb``, whose chignolin (CLN025, YYDPETGTWY)
  embeddings are ``[4, 4, 5, 8, 6, 13, 2, 13, 7, 4]``. The dataset written here does **not** use
  these integers: z is :func:`cgexplain.core.residues.sequence_types` (the project's convention,
  shared by both NTL9 routes); the file's integers are only checked to be a bijection with the
  sequence's residues (a mismatch with AA2INT is reported as a warning, not refused).
* **sequence** — ``Tutorials/topology/ntl9.psf``: 39 Cα beads, MET LYS VAL ILE PHE LEU LYS ASP VAL
  LYS GLY MET GLY … ALA, i.e. MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA (the K12M variant).
* **units** — Å and kcal/mol/Å (torchmd's units): ``make_deltaforces.py`` flags frames with a
  bonded Cα–Cα distance > 10 Å as broken, and ``Tutorials/prior_force_field.yaml`` fits bond lengths
  ``req`` ≈ 3.83 with ``k0`` ≈ 60–90 from these coordinates. Not stated in the repository in words.
* **dtype** — not stated anywhere found (``Custom`` casts to float32; ``make_deltaforces`` writes
  float32 prior forces); this loader accepts any real floating dtype for coords/forces and integer
  (or integer-valued float) embeddings, and writes float32.
* **temperature** — 350 K: ``Tutorials/2-Tutorial-CG-Simulation.ipynb`` (``simulate.yaml``:
  ``langevin_temperature: 350``) and ``Tutorials/tutorial_utils.py`` (free energies with ``kB*350``).
  The caller passes it (``temperature_K``); it is not read from the files.
* **forces vs deltaforces** — ``deltaforces`` are the forces minus the authors' prior (Bonded,
  RepulsionCG, Dihedral from ``prior_force_field.yaml``). This project fits its own prior, so it
  imports ``forces``; ``deltaforces`` is optional and only reported.
* **trajectory boundaries / frame times** — not published: the arrays are concatenated frames.
  The dataset therefore gets ``replica = 0`` for every frame and ``time_ps`` = the frame's index in
  the published file (not a time in ps).

Nothing here reads a whole array: every array is opened with ``np.load(..., mmap_mode="r")`` and
checked chunk by chunk (finite values, mean bonded Cα–Cα distance in Å, force magnitudes).
"""

from __future__ import annotations

import http.client
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ..core.residues import ca_bead_mass, chain_bonds, residue_type, sequence_types, type_names
from .dataset import write_dataset
from .sampling import split_indices

#: Files every import needs, as ``<name>_ca_<key>.npy``; ``deltaforces`` may be present too.
PUBLISHED_FILES = ("coords", "forces", "embeddings")
OPTIONAL_FILES = ("deltaforces",)
#: Folder of the published training data (Datasets/README.md of torchmd-protein-thermodynamics).
PUBLISHED_BASE_URL = "http://pub.htmd.org/protein_thermodynamics_data/training_data/"
#: Published temperature of the reference simulations (K).
PUBLISHED_TEMPERATURE_K = 350.0
#: Embedding integers of the published files (Tutorials/1-Tutorial-CG-NNP-Training.ipynb).
AA2INT = {"ALA": 1, "GLY": 2, "PHE": 3, "TYR": 4, "ASP": 5, "GLU": 6, "TRP": 7, "PRO": 8, "ASN": 9,
          "GLN": 10, "HIS": 11, "HSE": 11, "HSD": 11, "SER": 12, "THR": 13, "VAL": 14, "MET": 15,
          "CYS": 16, "NLE": 17, "ARG": 19, "LYS": 20, "LEU": 21, "ILE": 22}

#: Plausibility bounds: mean bonded Cα–Cα distance (Å) and force magnitudes (kcal/mol/Å).
BOND_MIN_A, BOND_MAX_A = 1.0, 10.0
FORCE_RMS_MAX = 1000.0      # 1 kcal/mol/Å = 41.84 kJ/mol/nm: kJ/mol/nm data lands far above this
FORCE_ABS_MAX = 1.0e5
#: Frames written through an in-memory copy up to this size (bytes per array); larger selections
#: are staged in temporary memory-mapped .npy files next to the output.
IN_MEMORY_BYTES = 256 * 2**20
_TIMEOUT_S = 60.0


class MajewskiError(RuntimeError):
    """The published data is missing, unreachable or not what it should be (one-line message)."""


def file_name(name: str, key: str) -> str:
    return f"{name}_ca_{key}.npy"


def published_urls(name: str = "ntl9", deltaforces: bool = False) -> dict[str, str]:
    """URLs of the published files of protein ``name`` (keys as in :data:`PUBLISHED_FILES`)."""
    keys = PUBLISHED_FILES + (OPTIONAL_FILES if deltaforces else ())
    return {k: PUBLISHED_BASE_URL + file_name(name, k) for k in keys}


def _how_to_obtain(name: str) -> str:
    files = ", ".join(file_name(name, k) for k in PUBLISHED_FILES)
    return (f"download {files} by hand from {PUBLISHED_BASE_URL} (Majewski et al. 2023; "
            f"torchmd/torchmd-protein-thermodynamics Datasets/README.md) into one folder and set "
            f"systems.{name}.data.local_dir to that folder")


# ----------------------------------------------------------------------------------------- fetch

def _npy_expected_size(path: Path) -> int | None:
    """Total size a complete .npy file with this header has, or None if the header is unreadable."""
    try:
        with open(path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            if major == 1:
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            if dtype.hasobject:
                return None
            return fh.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    except (OSError, ValueError, EOFError):
        return None


def _npy_complete(path: Path) -> bool:
    size = _npy_expected_size(path)
    return size is not None and path.exists() and path.stat().st_size == size


def _download(url: str, target: Path, name: str) -> None:
    """Stream ``url`` into ``target.part`` (resuming a partial one), then rename to ``target``."""
    part = target.with_name(target.name + ".part")
    if part.exists() and _npy_complete(part):
        part.replace(target)
        return
    offset = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        try:
            resp = urllib.request.urlopen(req, timeout=_TIMEOUT_S)
        except urllib.error.HTTPError as e:
            if e.code != 416 or not offset:
                raise
            part.unlink()             # the partial file does not fit the server's: start again
            offset, req = 0, urllib.request.Request(url)
            resp = urllib.request.urlopen(req, timeout=_TIMEOUT_S)
        with resp:
            if offset and resp.status != 206:
                offset = 0            # the server ignored the range: download from the start
            length = resp.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            done, step = offset, 0.05
            next_report = (done / total + step) if total else None
            last_mb = done // (50 * 2**20)
            with open(part, "ab" if offset else "wb") as fh:
                while True:
                    block = resp.read(2**20)
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    if total:
                        if done / total >= next_report or done == total:
                            print(f"majewski: {target.name} {100 * done / total:5.1f}% "
                                  f"({done / 2**20:.1f} of {total / 2**20:.1f} MB)", file=sys.stderr)
                            next_report = (int(done / total / step) + 1) * step
                    elif done // (50 * 2**20) > last_mb:
                        last_mb = done // (50 * 2**20)
                        print(f"majewski: {target.name} {done / 2**20:.0f} MB", file=sys.stderr)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        if isinstance(e, urllib.error.HTTPError):
            reason = f"HTTP {e.code} {e.reason}"
        else:
            reason = f"{type(e).__name__}: {getattr(e, 'reason', None) or e}"
        raise MajewskiError(f"could not download {url} ({reason}); "
                            f"{_how_to_obtain(name)}".replace("\n", " ")) from None
    if total is not None and part.stat().st_size != total:
        raise MajewskiError(f"download of {url} stopped at {part.stat().st_size} of {total} bytes "
                            f"(run again to resume); {_how_to_obtain(name)}")
    if not _npy_complete(part):
        part.unlink()
        raise MajewskiError(f"{url} did not deliver a complete .npy file; {_how_to_obtain(name)}")
    part.replace(target)


def fetch(urls: dict[str, str], dest: Path, name: str = "ntl9") -> Path:
    """Download the published files into ``dest`` as ``<name>_ca_<key>.npy``; returns ``dest``.

    ``urls`` maps a key of :data:`PUBLISHED_FILES` (and optionally ``deltaforces``) to its URL
    (see :func:`published_urls`). Files already complete in ``dest`` are skipped without any network
    access; a partial ``<file>.part`` is resumed with an HTTP range request. Progress goes to stderr.
    """
    dest = Path(dest)
    missing = [k for k in PUBLISHED_FILES if k not in urls]
    unknown = sorted(set(urls) - set(PUBLISHED_FILES) - set(OPTIONAL_FILES))
    if missing or unknown:
        raise MajewskiError(f"systems.{name}: data URLs must name {list(PUBLISHED_FILES)} "
                            f"(optionally {list(OPTIONAL_FILES)}); missing {missing}, unknown {unknown}")
    dest.mkdir(parents=True, exist_ok=True)
    for key, url in urls.items():
        target = dest / file_name(name, key)
        if target.exists() and _npy_complete(target):
            print(f"majewski: {target.name} already complete, skipped", file=sys.stderr)
            continue
        print(f"majewski: fetching {url} -> {target}", file=sys.stderr)
        _download(url, target, name)
    return dest


# ---------------------------------------------------------------------------------------- checks

def _open(source: Path, name: str, key: str) -> np.ndarray:
    path = source / file_name(name, key)
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError) as e:
        raise MajewskiError(f"{path}: not a readable .npy file ({type(e).__name__}: {e})".replace(
            "\n", " ")) from None


def check_source(source: Path, name: str = "ntl9") -> dict:
    """Shapes and dtypes of the published files in ``source``, without reading the arrays.

    Returns ``{"frames", "beads", "embeddings_layout", "deltaforces", "files": {key: {...}}}``;
    raises :class:`MajewskiError` for missing files or inconsistent shapes/dtypes.
    """
    source = Path(source)
    if not source.is_dir():
        raise MajewskiError(f"NTL9 data folder {source} does not exist; {_how_to_obtain(name)}")
    missing = [file_name(name, k) for k in PUBLISHED_FILES if not (source / file_name(name, k)).exists()]
    if missing:
        raise MajewskiError(f"missing {', '.join(missing)} in {source}; {_how_to_obtain(name)}")
    arrays = {k: _open(source, name, k) for k in PUBLISHED_FILES}
    has_delta = (source / file_name(name, "deltaforces")).exists()
    if has_delta:
        arrays["deltaforces"] = _open(source, name, "deltaforces")
    coords = arrays["coords"]
    fname = {k: source / file_name(name, k) for k in arrays}
    if coords.ndim != 3 or coords.shape[2] != 3 or coords.shape[0] < 1:
        raise MajewskiError(f"{fname['coords']}: shape {coords.shape}, expected (frames, beads, 3)")
    F, N = coords.shape[:2]
    for key in ("coords", "forces", "deltaforces"):
        if key not in arrays:
            continue
        a = arrays[key]
        if a.shape != coords.shape:
            raise MajewskiError(f"{fname[key]}: shape {a.shape} differs from coords {coords.shape}")
        if not np.issubdtype(a.dtype, np.floating):
            raise MajewskiError(f"{fname[key]}: dtype {a.dtype}, expected floating point")
    emb = arrays["embeddings"]
    if emb.shape == (N,):
        layout = "(N,)"
    elif emb.ndim == 2 and emb.shape[1] == N and emb.shape[0] in (1, F):
        layout = "(1, N)" if emb.shape[0] == 1 else "(F, N)"
    else:
        raise MajewskiError(f"{fname['embeddings']}: shape {emb.shape}, expected ({N},) "
                            f"or ({F}, {N}) for coords {coords.shape}")
    if not (np.issubdtype(emb.dtype, np.integer) or np.issubdtype(emb.dtype, np.floating)):
        raise MajewskiError(f"{fname['embeddings']}: dtype {emb.dtype}, expected integers")
    return {"frames": int(F), "beads": int(N), "embeddings_layout": layout, "deltaforces": has_delta,
            "files": {k: {"path": str(fname[k]), "shape": tuple(int(s) for s in a.shape),
                          "dtype": str(a.dtype)} for k, a in arrays.items()}}


def _embedding_vector(emb: np.ndarray, path: Path, chunk: int) -> np.ndarray:
    """The per-bead embedding (N,), checking that every frame's row is the same."""
    if emb.ndim == 1:
        row = np.asarray(emb)
    else:
        row = np.asarray(emb[0])
        for s in range(0, emb.shape[0], chunk):
            block = np.asarray(emb[s:s + chunk])
            bad = np.flatnonzero((block != row).any(axis=1))
            if len(bad):
                raise MajewskiError(f"{path}: frame {s + bad[0]} has embeddings different from frame 0 "
                                    f"(a single-protein file has one embedding row)")
    if not np.all(np.isfinite(row)) or not np.all(row == np.round(row)):
        raise MajewskiError(f"{path}: embeddings are not integers")
    return row.astype(np.int64)


def _check_embeddings(row: np.ndarray, sequence: str, path: Path) -> str:
    """Bijection residue letter <-> embedding value; returns the convention's name."""
    by_letter: dict[str, set[int]] = {}
    by_value: dict[int, set[str]] = {}
    for c, v in zip(sequence, row.tolist()):
        by_letter.setdefault(c, set()).add(v)
        by_value.setdefault(v, set()).add(c)
    bad = [f"residue {c} has values {sorted(vs)}" for c, vs in by_letter.items() if len(vs) > 1]
    bad += [f"value {v} is used for residues {''.join(sorted(cs))}" for v, cs in by_value.items()
            if len(cs) > 1]
    if bad:
        raise MajewskiError(f"{path}: embeddings are inconsistent with the sequence {sequence} "
                            f"(not one value per residue type): " + "; ".join(bad[:4]))
    published = {c: AA2INT.get(type_names([residue_type(c)])[0]) for c in by_letter}
    if all(published[c] == next(iter(by_letter[c])) for c in by_letter):
        return "AA2INT (torchmd-protein-thermodynamics)"
    print(f"majewski: warning: {path.name}: embeddings are one value per residue type but not the "
          f"published AA2INT convention; z is taken from the sequence anyway", file=sys.stderr)
    return "other (bijective with the sequence)"


def _frame_selection(F: int, max_frames: int | None) -> np.ndarray | None:
    """Evenly spaced frame indices (None = all frames, in file order)."""
    if max_frames is None or max_frames >= F:
        return None
    if max_frames < 2:
        raise MajewskiError(f"max_frames must be at least 2 (train and validation), got {max_frames}")
    return (np.arange(max_frames, dtype=np.int64) * F) // max_frames


def import_dataset(source: Path, out: Path, *, name: str, sequence: str, temperature_K: float,
                   val_fraction: float, seed: int, max_frames: int | None = None,
                   chunk: int = 100_000) -> dict:
    """Check the published files in ``source`` and write them as the CG dataset ``out``.

    Frames are taken in file order (``max_frames`` evenly spaced ones, None = all) and checked chunk
    by chunk (``chunk`` frames at a time) while being copied; z comes from ``sequence``
    (:func:`cgexplain.core.residues.sequence_types`), not from the file's embeddings. Returns a
    summary (frames, beads, mean bond length, force RMS, embedding convention, ...).
    """
    source, out = Path(source), Path(out)
    info = check_source(source, name)
    F, N = info["frames"], info["beads"]
    sequence = sequence.strip().upper()
    path = {k: source / file_name(name, k) for k in PUBLISHED_FILES}
    if N != len(sequence):
        raise MajewskiError(f"{path['coords']}: {N} beads per frame, but the sequence of {name} has "
                            f"{len(sequence)} residues ({sequence})")
    try:
        z = sequence_types(sequence)
    except ValueError as e:
        raise MajewskiError(f"systems.{name}: sequence {sequence!r}: {e}") from None
    coords, forces, emb = (_open(source, name, k) for k in PUBLISHED_FILES)
    convention = _check_embeddings(_embedding_vector(emb, path["embeddings"], chunk), sequence,
                                   path["embeddings"])

    sel = _frame_selection(F, max_frames)
    n_out = F if sel is None else len(sel)
    try:
        train_idx, val_idx = split_indices(n_out, val_fraction, seed)
    except ValueError as e:
        raise MajewskiError(f"systems.{name}: {e}") from None
    direct = (sel is None and coords.dtype == np.float32 and forces.dtype == np.float32
              and coords.flags.c_contiguous and forces.flags.c_contiguous)
    temps: list[Path] = []
    if direct:
        c_out, f_out = coords, forces          # checked below, then streamed by np.savez
    elif n_out * N * 3 * 4 <= IN_MEMORY_BYTES:
        c_out = np.empty((n_out, N, 3), np.float32)
        f_out = np.empty((n_out, N, 3), np.float32)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        temps = [out.with_name(f".{out.name}.{k}.tmp.npy") for k in ("coords", "forces")]
        c_out, f_out = (np.lib.format.open_memmap(p, mode="w+", dtype=np.float32, shape=(n_out, N, 3))
                        for p in temps)
    try:
        bond_sum, bond_n, f2_sum, f_max = 0.0, 0, 0.0, 0.0
        chunk = max(1, int(chunk))
        for s in range(0, n_out, chunk):
            rows = slice(s, min(s + chunk, n_out))
            src = rows if sel is None else sel[rows]
            c = np.asarray(coords[src], dtype=np.float32)
            f = np.asarray(forces[src], dtype=np.float32)
            frame0 = s if sel is None else int(sel[s])
            for key, a in (("coords", c), ("forces", f)):
                finite = np.isfinite(a).all(axis=(1, 2))
                if not finite.all():
                    k = int(np.flatnonzero(~finite)[0])
                    bad = s + k if sel is None else int(sel[s + k])
                    raise MajewskiError(f"{path[key]}: non-finite values (NaN/inf) in frame {bad}")
            if N > 1:
                d = np.linalg.norm(np.diff(c, axis=1), axis=2)
                bond_sum += float(d.sum(dtype=np.float64))
                bond_n += d.size
                mean_bond = bond_sum / bond_n
                if mean_bond < BOND_MIN_A:
                    raise MajewskiError(f"{path['coords']}: mean bonded Ca-Ca distance {mean_bond:.3g} "
                                        f"(frames from {frame0}) is below {BOND_MIN_A} - coordinates "
                                        f"in nm? expected Å (~3.8)")
                if mean_bond > BOND_MAX_A:
                    raise MajewskiError(f"{path['coords']}: mean bonded Ca-Ca distance {mean_bond:.3g} "
                                        f"(frames from {frame0}) is above {BOND_MAX_A} - expected Å (~3.8)")
            fn = np.linalg.norm(f, axis=2)
            f2_sum += float(np.square(fn, dtype=np.float64).sum())
            f_max = max(f_max, float(fn.max(initial=0.0)))
            if f_max > FORCE_ABS_MAX:
                raise MajewskiError(f"{path['forces']}: a force of magnitude {f_max:.3g} (frames from "
                                    f"{frame0}) exceeds {FORCE_ABS_MAX:g} - expected kcal/mol/Å")
            if not direct:
                c_out[rows] = c
                f_out[rows] = f
        f_rms = (f2_sum / (n_out * N)) ** 0.5
        if f_rms > FORCE_RMS_MAX:
            raise MajewskiError(f"{path['forces']}: RMS force magnitude {f_rms:.3g} exceeds "
                                f"{FORCE_RMS_MAX:g} - forces in kJ/mol/nm? expected kcal/mol/Å")
        if f_rms == 0.0:
            raise MajewskiError(f"{path['forces']}: all forces are zero")
        for a in (c_out, f_out):
            if isinstance(a, np.memmap) and a.mode == "w+":
                a.flush()
        frames = np.arange(F, dtype=np.int64) if sel is None else sel
        write_dataset(out, coords=c_out, forces=f_out, box=np.zeros((n_out, 3), np.float32), z=z,
                      masses=[ca_bead_mass(c) for c in sequence], train_idx=train_idx,
                      val_idx=val_idx, time_ps=frames.astype(np.float64), periodic=False,
                      temperature_K=float(temperature_K), bead_names=type_names(z),
                      bonds=chain_bonds(N), replica=np.zeros(n_out, np.int64))
    finally:
        del c_out, f_out
        for p in temps:
            p.unlink(missing_ok=True)
    return {"out": str(out), "source": str(source), "source_frames": F, "frames": int(n_out),
            "beads": N, "train": int(len(train_idx)), "val": int(len(val_idx)),
            "mean_bond_A": bond_sum / bond_n if bond_n else float("nan"), "force_rms": f_rms,
            "force_max": f_max, "embedding_convention": convention,
            "embeddings_layout": info["embeddings_layout"], "temperature_K": float(temperature_K),
            "deltaforces_present": info["deltaforces"]}
