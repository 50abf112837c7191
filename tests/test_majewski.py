"""Route (a) to NTL9 data: import of the published Majewski et al. 2023 files, checks, fetch."""

import http.server
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from cgexplain.core.residues import NAME_OF_TYPE, chain_bonds, sequence_types
from cgexplain.data import majewski
from cgexplain.data.dataset import load_dataset
from cgexplain.data.majewski import (
    AA2INT,
    MajewskiError,
    check_source,
    fetch,
    file_name,
    import_dataset,
    published_urls,
)

NTL9 = "MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA"


def chain(frames: int, n: int, rng, bond: float = 3.8) -> np.ndarray:
    steps = rng.normal(size=(frames, n - 1, 3))
    steps *= bond / np.linalg.norm(steps, axis=2, keepdims=True)
    return np.concatenate([np.zeros((frames, 1, 3)), np.cumsum(steps, axis=1)], axis=1)


def published_embeddings(sequence: str) -> np.ndarray:
    return np.array([AA2INT[NAME_OF_TYPE[t]] for t in sequence_types(sequence)], dtype=np.int64)


def make_source(folder: Path, frames: int = 500, sequence: str = NTL9, seed: int = 0,
                name: str = "ntl9", deltaforces: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(sequence)
    coords = chain(frames, n, rng).astype(np.float32)
    coords[:, :, 0] += np.arange(frames, dtype=np.float32)[:, None]   # frame id readable from x0
    np.save(folder / file_name(name, "coords"), coords)
    np.save(folder / file_name(name, "forces"), rng.normal(0, 30, size=(frames, n, 3)).astype(np.float32))
    np.save(folder / file_name(name, "embeddings"), published_embeddings(sequence))
    if deltaforces:
        np.save(folder / file_name(name, "deltaforces"), np.zeros((frames, n, 3), np.float32))
    return folder


def do_import(src: Path, out: Path, **kw):
    args = dict(name="ntl9", sequence=NTL9, temperature_K=350.0, val_fraction=0.1, seed=1)
    args.update(kw)
    return import_dataset(src, out, **args)


# ------------------------------------------------------------------------------------ import

def test_import_writes_the_project_dataset(tmp_path):
    src = make_source(tmp_path / "src", deltaforces=True)
    info = check_source(src)
    assert info["frames"] == 500 and info["beads"] == 39 and info["embeddings_layout"] == "(N,)"
    assert info["deltaforces"]
    summary = do_import(src, tmp_path / "ds.npz", chunk=64)
    d = load_dataset(tmp_path / "ds.npz")
    assert d["coords"].shape == (500, 39, 3) and d["forces"].shape == (500, 39, 3)
    assert d["coords"].dtype == np.float32
    np.testing.assert_array_equal(d["z"], sequence_types(NTL9))
    assert not bool(d["periodic"]) and float(d["temperature_K"]) == 350.0
    np.testing.assert_array_equal(d["bonds"], chain_bonds(39))
    np.testing.assert_array_equal(d["box"], 0)
    np.testing.assert_array_equal(d["replica"], 0)
    assert list(d["bead_names"][:3]) == ["MET", "LYS", "VAL"]
    assert d["masses"][10] == pytest.approx(12.01 + 2 * 1.008)         # G11: Cα + two Hα (amber14 masses)
    assert len(d["val_idx"]) == 50 and len(d["train_idx"]) == 450
    assert set(d["train_idx"]).isdisjoint(d["val_idx"])
    np.testing.assert_array_equal(d["coords"], np.load(src / "ntl9_ca_coords.npy"))
    np.testing.assert_array_equal(d["forces"], np.load(src / "ntl9_ca_forces.npy"))
    assert summary["mean_bond_A"] == pytest.approx(3.8, rel=1e-4)
    assert summary["embedding_convention"].startswith("AA2INT")


def test_max_frames_takes_evenly_spaced_frames_in_file_order(tmp_path):
    src = make_source(tmp_path / "src")
    do_import(src, tmp_path / "ds.npz", max_frames=50, chunk=7)
    d = load_dataset(tmp_path / "ds.npz")
    assert d["coords"].shape == (50, 39, 3)
    frames = np.round(d["coords"][:, 0, 0]).astype(int)      # make_source writes the frame id in x0
    np.testing.assert_array_equal(frames, np.arange(0, 500, 10))
    np.testing.assert_array_equal(d["time_ps"], np.arange(0, 500, 10))
    src_forces = np.load(src / "ntl9_ca_forces.npy")
    np.testing.assert_array_equal(d["forces"], src_forces[::10])


def test_large_selection_is_staged_in_memmaps(tmp_path, monkeypatch):
    src = make_source(tmp_path / "src")
    monkeypatch.setattr(majewski, "IN_MEMORY_BYTES", 0)
    do_import(src, tmp_path / "out" / "ds.npz", max_frames=100, chunk=30)
    d = load_dataset(tmp_path / "out" / "ds.npz")
    np.testing.assert_array_equal(d["coords"], np.load(src / "ntl9_ca_coords.npy")[::5])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ds.npz"]   # temporaries gone


def test_embeddings_per_frame_layout_and_other_bijection(tmp_path, capsys):
    src = make_source(tmp_path / "src", frames=60)
    emb = published_embeddings(NTL9) + 100                       # other integers, still bijective
    np.save(src / "ntl9_ca_embeddings.npy", np.tile(emb, (60, 1)))
    assert check_source(src)["embeddings_layout"] == "(F, N)"
    summary = do_import(src, tmp_path / "ds.npz", chunk=16)
    assert summary["embedding_convention"].startswith("other")
    assert "AA2INT" in capsys.readouterr().err
    np.testing.assert_array_equal(load_dataset(tmp_path / "ds.npz")["z"], sequence_types(NTL9))


def test_arrays_are_memory_mapped(tmp_path, monkeypatch):
    src = make_source(tmp_path / "src", frames=20000)           # 9.4 MB per array
    calls = []
    real_load = np.load

    def recording_load(file, *a, **kw):
        calls.append((Path(file).name, kw.get("mmap_mode")))
        return real_load(file, *a, **kw)

    monkeypatch.setattr(np, "load", recording_load)
    tracemalloc.start()
    try:
        do_import(src, tmp_path / "ds.npz", max_frames=100, chunk=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    read = [c for c in calls if c[0].startswith("ntl9_ca_")]
    assert {c[0] for c in read} == {"ntl9_ca_coords.npy", "ntl9_ca_forces.npy", "ntl9_ca_embeddings.npy"}
    assert all(mode == "r" for _, mode in read), read
    # reading one source array into memory would take 9.4 MB; chunks of 1000 frames need < 1 MB each
    assert peak < 5 * 2**20, peak


# ------------------------------------------------------------------------------------ refusals

def one_line_error(fn, *match):
    with pytest.raises(MajewskiError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for m in match:
        assert m in msg, msg
    return msg


def test_nan_in_forces(tmp_path):
    src = make_source(tmp_path / "src")
    f = np.load(src / "ntl9_ca_forces.npy")
    f[321, 5, 1] = np.nan
    np.save(src / "ntl9_ca_forces.npy", f)
    one_line_error(lambda: do_import(src, tmp_path / "ds.npz", chunk=100),
                   "ntl9_ca_forces.npy", "frame 321")
    assert not (tmp_path / "ds.npz").exists()


def test_coords_in_nm(tmp_path):
    src = make_source(tmp_path / "src")
    np.save(src / "ntl9_ca_coords.npy", np.load(src / "ntl9_ca_coords.npy") * 0.1)
    one_line_error(lambda: do_import(src, tmp_path / "ds.npz"), "ntl9_ca_coords.npy", "nm")


def test_forces_in_kj_per_mol_nm(tmp_path):
    src = make_source(tmp_path / "src")
    np.save(src / "ntl9_ca_forces.npy", np.load(src / "ntl9_ca_forces.npy") * 41.84)
    one_line_error(lambda: do_import(src, tmp_path / "ds.npz"), "ntl9_ca_forces.npy", "kJ/mol/nm")


def test_wrong_bead_count(tmp_path):
    src = make_source(tmp_path / "src", sequence=NTL9[:-1])
    one_line_error(lambda: do_import(src, tmp_path / "ds.npz"), "ntl9_ca_coords.npy", "38 beads")


def test_forces_shape_mismatch(tmp_path):
    src = make_source(tmp_path / "src")
    np.save(src / "ntl9_ca_forces.npy", np.zeros((499, 39, 3), np.float32))
    one_line_error(lambda: check_source(src), "ntl9_ca_forces.npy", "(499, 39, 3)")


def test_embeddings_inconsistent_with_sequence(tmp_path):
    src = make_source(tmp_path / "src")
    emb = published_embeddings(NTL9)
    emb[1] = AA2INT["MET"]                              # K2 gets MET's value: M and K share 15
    np.save(src / "ntl9_ca_embeddings.npy", emb)
    one_line_error(lambda: do_import(src, tmp_path / "ds.npz"), "ntl9_ca_embeddings.npy", "residue K")


def test_embeddings_differing_between_frames(tmp_path):
    src = make_source(tmp_path / "src", frames=50)
    emb = np.tile(published_embeddings(NTL9), (50, 1))
    emb[30, 3] = 1
    np.save(src / "ntl9_ca_embeddings.npy", emb)
    one_line_error(lambda: do_import(src, tmp_path / "ds.npz", chunk=8), "ntl9_ca_embeddings.npy",
                   "frame 30")


def test_missing_file_and_folder(tmp_path):
    src = make_source(tmp_path / "src")
    (src / "ntl9_ca_forces.npy").unlink()
    one_line_error(lambda: do_import(src, tmp_path / "ds.npz"), "ntl9_ca_forces.npy", str(src),
                   "systems.ntl9.data.local_dir", "pub.htmd.org")
    one_line_error(lambda: check_source(tmp_path / "nowhere"), "nowhere", "systems.ntl9.data.local_dir")


def test_truncated_file(tmp_path):
    src = make_source(tmp_path / "src")
    raw = (src / "ntl9_ca_coords.npy").read_bytes()
    (src / "ntl9_ca_coords.npy").write_bytes(raw[: len(raw) // 2])
    one_line_error(lambda: check_source(src), "ntl9_ca_coords.npy")


# ------------------------------------------------------------------------------------ fetch

class _Server:
    """Serves bytes by path on 127.0.0.1, honouring single ``Range: bytes=a-`` requests."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start, rng = 0, self.headers.get("Range")
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 5
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(tmp_path):
    src = make_source(tmp_path / "published", frames=200)
    srv = _Server({f"/data/{p.name}": p.read_bytes() for p in src.iterdir()})
    yield srv, src
    srv.close()


def test_fetch_downloads_resumes_and_skips(tmp_path, server, capsys):
    srv, src = server
    urls = {k: f"{srv.url}/data/ntl9_ca_{k}.npy" for k in ("coords", "forces", "embeddings")}
    dest = tmp_path / "dl"
    dest.mkdir()
    full = (src / "ntl9_ca_forces.npy").read_bytes()
    (dest / "ntl9_ca_forces.npy.part").write_bytes(full[:40000])           # an interrupted download
    (dest / "ntl9_ca_embeddings.npy").write_bytes((src / "ntl9_ca_embeddings.npy").read_bytes())
    assert fetch(urls, dest) == dest
    for k in ("coords", "forces", "embeddings"):
        assert (dest / f"ntl9_ca_{k}.npy").read_bytes() == (src / f"ntl9_ca_{k}.npy").read_bytes()
    assert not list(dest.glob("*.part"))
    reqs = dict(srv.requests)
    assert reqs["/data/ntl9_ca_coords.npy"] is None
    assert reqs["/data/ntl9_ca_forces.npy"] == "bytes=40000-"              # resumed, not restarted
    assert "/data/ntl9_ca_embeddings.npy" not in reqs                     # complete file skipped
    err = capsys.readouterr().err
    assert "100.0%" in err and "already complete" in err
    # a second fetch asks the server for nothing
    n = len(srv.requests)
    fetch(urls, dest)
    assert len(srv.requests) == n
    assert check_source(dest)["frames"] == 200


def test_fetch_rejects_a_non_npy_answer(tmp_path, server):
    srv, _ = server
    srv.files["/data/bad.npy"] = b"<html>not here</html>"
    urls = {k: f"{srv.url}/data/bad.npy" for k in ("coords", "forces", "embeddings")}
    one_line_error(lambda: fetch(urls, tmp_path / "dl"), "/data/bad.npy", "local_dir")
    assert not list((tmp_path / "dl").iterdir())


def test_fetch_http_error_and_unreachable(tmp_path, server):
    srv, _ = server
    urls = {k: f"{srv.url}/data/missing_{k}.npy" for k in ("coords", "forces", "embeddings")}
    one_line_error(lambda: fetch(urls, tmp_path / "dl"), "missing_coords.npy", "404",
                   "systems.ntl9.data.local_dir")
    urls = {k: f"http://127.0.0.1:9/ntl9_ca_{k}.npy" for k in ("coords", "forces", "embeddings")}
    one_line_error(lambda: fetch(urls, tmp_path / "dl2"), "http://127.0.0.1:9/ntl9_ca_coords.npy",
                   "systems.ntl9.data.local_dir", "ntl9_ca_forces.npy")
    one_line_error(lambda: fetch({"coords": "x"}, tmp_path / "dl3"), "forces")


def test_published_urls():
    urls = published_urls("ntl9", deltaforces=True)
    base = "http://pub.htmd.org/protein_thermodynamics_data/training_data/"
    assert urls["coords"] == base + "ntl9_ca_coords.npy"
    assert set(urls) == {"coords", "forces", "embeddings", "deltaforces"}
