"""`cgexplain fetch` and `cgexplain import-data` run for real, as the rules call them, against an HTTP
server on 127.0.0.1 that serves small files of the published Majewski et al. 2023 NTL9 Cα layout.

The files are built here (Cα positions of the shipped folded structure plus noise, random forces in
kcal/mol/Å, the published AA2INT embeddings) and the URLs come in through the system's config block,
``systems.ntl9.data.urls``, exactly as ``config/config.yaml`` gives the published ones. No test reaches
any address but the local server: the commands run with every proxy variable removed and
``no_proxy=*``.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from cgexplain.data.dataset import load_dataset

REPO = Path(__file__).resolve().parents[1]
SEQUENCE = "MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA"
N = len(SEQUENCE)
FRAMES = 12
KEYS = ("coords", "forces", "embeddings")
FOLDER = "/protein_thermodynamics_data/training_data"   # the published folder, served locally
THREE = {"A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS", "I": "ILE",
         "K": "LYS", "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN", "R": "ARG", "S": "SER",
         "T": "THR", "V": "VAL", "W": "TRP", "Y": "TYR"}
#: embedding integers of the published files (torchmd-protein-thermodynamics, AA2INT)
AA2INT = {"ALA": 1, "GLY": 2, "PHE": 3, "TYR": 4, "ASP": 5, "GLU": 6, "TRP": 7, "PRO": 8, "ASN": 9,
          "GLN": 10, "HIS": 11, "SER": 12, "THR": 13, "VAL": 14, "MET": 15, "CYS": 16, "ARG": 19,
          "LYS": 20, "LEU": 21, "ILE": 22}
#: the dataset's bead types: one per amino acid, 1..20 in this one-letter order
TYPE_ORDER = "ACDEFGHIKLMNPQRSTVWY"


# ------------------------------------------------------------------------------ published files

def ca_positions() -> np.ndarray:
    """Cα positions (Å) of the shipped folded structure, read with the standard library."""
    rows = [line for line in (REPO / "resources/ntl9/ntl9_folded.pdb").read_text().splitlines()
            if line.startswith("ATOM") and line[12:16].strip() == "CA"]
    assert [line[17:20] for line in rows] == [THREE[c] for c in SEQUENCE]
    return np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])] for line in rows])


def npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def published_arrays(frames: int = FRAMES) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    coords = (ca_positions()[None] + rng.normal(0.0, 0.3, (frames, N, 3))).astype(np.float32)
    forces = rng.normal(0.0, 20.0, (frames, N, 3)).astype(np.float32)
    emb = np.array([AA2INT[THREE[c]] for c in SEQUENCE], np.int64)
    return {"coords": coords, "forces": forces, "embeddings": emb}


def path_of(key: str) -> str:
    return f"{FOLDER}/ntl9_ca_{key}.npy"


# ------------------------------------------------------------------------------ local server

class Server:
    """HTTP/1.0 server on 127.0.0.1 (ephemeral port) serving ``files`` (URL path -> bytes).

    Honours ``Range: bytes=a-`` with 206. ``truncate[path] = n`` sends only the first n bytes and
    closes the connection (with the full Content-Length unless ``declare_length`` is False).
    Every GET is logged as (path, Range header, status, body bytes sent).
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: dict[str, int] = {}
        self.declare_length = True
        self.log: list[tuple[str, str | None, int, int]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rng = self.headers.get("Range")
                body = outer.files.get(self.path)
                if body is None:
                    outer.log.append((self.path, rng, 404, 0))
                    self.send_error(404)
                    return
                start = 0
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[len("bytes="):-1])
                    if start >= len(body):
                        outer.log.append((self.path, rng, 416, 0))
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                if outer.declare_length:
                    self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                chunk = body[start:outer.truncate.get(self.path, len(body))]
                outer.log.append((self.path, rng, 206 if start else 200, len(chunk)))
                self.wfile.write(chunk)
                self.wfile.flush()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def requests(self, key: str) -> list[tuple[str | None, int, int]]:
        return [(r, s, n) for p, r, s, n in self.log if p == path_of(key)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


@pytest.fixture
def server():
    srv = Server()
    arrays = published_arrays()
    srv.files.update({path_of(k): npy(a) for k, a in arrays.items()})
    srv.arrays = arrays
    yield srv
    srv.close()


# ------------------------------------------------------------------------------ command line

def params(srv: Server, urls: dict[str, str] | None = None) -> str:
    """The system's config block as the rules pass it (``--params '<json>'``)."""
    urls = urls or {k: srv.url + path_of(k) for k in KEYS}
    return json.dumps({"sequence": SEQUENCE, "temperature_K": 350.0, "seed": 0,
                       "data": {"route": "majewski", "local_dir": None, "urls": urls, "max_frames": None}})


def cgexplain(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["no_proxy"] = env["NO_PROXY"] = "*"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "workflow"), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "cgexplain", *map(str, args)], capture_output=True,
                          text=True, timeout=60, env=env)


def fetch(srv: Server, dest: Path, urls=None) -> subprocess.CompletedProcess:
    return cgexplain("fetch", "--system", "ntl9", "--params", params(srv, urls), "--dest", dest)


def import_data(srv: Server, source: Path, out: Path) -> subprocess.CompletedProcess:
    return cgexplain("import-data", "--system", "ntl9", "--params", params(srv), "--source", source,
                     "--out", out, "--val-fraction", 0.25, "--seed", 3)


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stderr
    return r


def one_error_line(r: subprocess.CompletedProcess, command: str, *names: str) -> str:
    """Exit code 2, no traceback, and stderr ends in the one line ``cgexplain <command>: error: ...``
    naming each of ``names``."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in lines if line.startswith(f"cgexplain {command}: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], r.stderr
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


def published_files(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir())


# ------------------------------------------------------------------------------ tests

def test_fetch_then_import_data_writes_the_cg_dataset(tmp_path, server):
    dest = tmp_path / "ntl9" / "source"
    ok(fetch(server, dest))
    assert published_files(dest) == [f"ntl9_ca_{k}.npy" for k in sorted(KEYS)]   # no .part left
    for k in KEYS:
        assert (dest / f"ntl9_ca_{k}.npy").read_bytes() == server.files[path_of(k)]
        assert server.requests(k) == [(None, 200, len(server.files[path_of(k)]))]

    out = tmp_path / "ntl9" / "cg" / "dataset.npz"
    ok(import_data(server, dest, out))
    d = load_dataset(out)
    a = server.arrays
    assert d["coords"].shape == d["forces"].shape == (FRAMES, N, 3)
    assert d["coords"].dtype == d["forces"].dtype == np.float32
    np.testing.assert_array_equal(d["coords"], a["coords"])
    np.testing.assert_array_equal(d["forces"], a["forces"])          # the forces, not anything else
    # bead types from the sequence (one per amino acid), not the file's AA2INT integers
    np.testing.assert_array_equal(d["z"], [TYPE_ORDER.index(c) + 1 for c in SEQUENCE])
    assert list(d["bead_names"]) == [THREE[c] for c in SEQUENCE]
    np.testing.assert_array_equal(d["bonds"], [[i, i + 1] for i in range(N - 1)])
    assert d["masses"].shape == (N,) and np.all(d["masses"] > 12.0)
    assert not bool(d["periodic"]) and float(d["temperature_K"]) == 350.0
    assert len(d["val_idx"]) == 3                                      # --val-fraction 0.25 of 12
    assert sorted([*d["train_idx"], *d["val_idx"]]) == list(range(FRAMES))

    n = len(server.log)                                                # complete files: no request
    ok(fetch(server, dest))
    assert len(server.log) == n


def test_fetch_resumes_a_part_file_with_a_range_request(tmp_path, server):
    dest = tmp_path / "source"
    dest.mkdir()
    full = server.files[path_of("forces")]
    have = 1000                                                        # header and a few frames
    (dest / "ntl9_ca_forces.npy.part").write_bytes(full[:have])
    ok(fetch(server, dest))
    assert server.requests("forces") == [(f"bytes={have}-", 206, len(full) - have)]   # the rest only
    assert (dest / "ntl9_ca_forces.npy").read_bytes() == full
    assert published_files(dest) == [f"ntl9_ca_{k}.npy" for k in sorted(KEYS)]


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "no-length"])
def test_truncated_download_is_one_error_line_and_leaves_no_complete_file(tmp_path, server,
                                                                          declare_length):
    server.declare_length = declare_length
    full = server.files[path_of("coords")]
    cut = len(full) // 2
    server.truncate[path_of("coords")] = cut
    dest = tmp_path / "source"
    one_error_line(fetch(server, dest), "fetch", server.url + path_of("coords"))
    assert server.requests("coords") == [(None, 200, cut)]
    assert not (dest / "ntl9_ca_coords.npy").exists()
    left = [p for p in dest.iterdir() if p.name.startswith("ntl9_ca_coords")]
    assert all(p.stat().st_size < len(full) for p in left), left
    one_error_line(import_data(server, dest, tmp_path / "ds.npz"), "import-data", "ntl9_ca_coords.npy")
    assert not (tmp_path / "ds.npz").exists()

    del server.truncate[path_of("coords")]                             # the server recovers: run again
    server.declare_length = True
    ok(fetch(server, dest))
    assert (dest / "ntl9_ca_coords.npy").read_bytes() == full
    if declare_length:                                                 # the partial download resumed
        assert server.requests("coords")[1] == (f"bytes={cut}-", 206, len(full) - cut)
    assert published_files(dest) == [f"ntl9_ca_{k}.npy" for k in sorted(KEYS)]


def test_404_is_one_error_line_naming_the_url(tmp_path, server):
    urls = {k: server.url + path_of(k) for k in KEYS}
    urls["forces"] = server.url + f"{FOLDER}/nowhere/ntl9_ca_forces.npy"
    dest = tmp_path / "source"
    line = one_error_line(fetch(server, dest, urls), "fetch", urls["forces"])
    assert "404" in line
    assert [p for p, *_ in server.log if "nowhere" in p] == [f"{FOLDER}/nowhere/ntl9_ca_forces.npy"]
    assert not [p for p in dest.iterdir() if "forces" in p.name]


@pytest.mark.parametrize("key, shape, expected", [
    ("coords", (FRAMES, N, 2), "(frames, beads, 3)"),
    ("forces", (FRAMES, N - 1, 3), f"{(FRAMES, N, 3)}"),
    ("embeddings", (N + 1,), f"({N},)"),
])
def test_file_of_the_wrong_shape_is_one_error_line_naming_file_and_shape(tmp_path, server, key, shape,
                                                                          expected):
    rng = np.random.default_rng(1)
    bad = (rng.normal(0.0, 3.8, shape).astype(np.float32) if key != "embeddings"
           else np.arange(1, shape[0] + 1, dtype=np.int64))
    server.files[path_of(key)] = npy(bad)
    dest = tmp_path / "source"
    ok(fetch(server, dest))                     # a complete .npy file: fetch does not know the layout
    out = tmp_path / "cg" / "dataset.npz"
    one_error_line(import_data(server, dest, out), "import-data", str(dest / f"ntl9_ca_{key}.npy"),
                   str(shape), expected)
    assert not out.exists()
