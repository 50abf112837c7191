"""benchmarks/gpu_check.sh, the script that proves the CUDA paths on a GPU, runs here in its CPU mode at
the tiny size, so that it cannot rot between the sessions that have a GPU."""

import os
import subprocess
import sys

from conftest import REPO

STAGES = ["reference MD methane", "reference MD ntl9"] + [
    f"{what} {arch}" for arch in ("painn", "so3net", "schnet")
    for what in ("train", "simulate", "relevance", "explain")]


def test_gpu_check_runs_every_stage_in_cpu_mode():
    env = {**os.environ, "DEV": "cpu", "SIZE": "tiny", "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                       env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = [ln for ln in r.stdout.splitlines() if ln and ln[0].isalpha() and not ln.startswith(("gpu_check", "torch"))]
    for stage in STAGES:
        hits = [ln for ln in rows if ln.startswith(stage)]
        assert hits, f"no row for {stage!r} in:\n{r.stdout}"
        for ln in hits:
            fields = ln[26:].split()
            assert fields[0] in ("cpu", "CPU") and float(fields[1]) > 0 and float(fields[2]) > 0, ln
    assert any(ln.startswith("relevance painn float32") for ln in rows)
    assert any(ln.startswith("relevance painn float64") for ln in rows)
    dag = [ln for ln in rows if ln.startswith("smoke DAG subset")]
    assert dag and "device cpu" in dag[0], r.stdout
