"""Rule logs keep every attempt: `cgexplain --log FILE` appends under a header line per attempt (time,
attempt number, fresh or resumed) even though Snakemake deletes FILE before each run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HEADER = re.compile(r"^==== attempt (\d+) · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d · (.*?) · cgexplain ", re.M)


def cgexplain(*args, wait=True):
    cmd = [sys.executable, "-m", "cgexplain", *map(str, args)]
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_failed_attempts_survive_the_log_being_deleted(tmp_path):
    log = tmp_path / "logs" / "states.log"
    for _ in range(2):
        r = cgexplain("--log", log, "states", "--no-such-option")
        assert r.returncode != 0 and r.stderr == ""  # everything went to the log
        log.unlink()  # what Snakemake does before it runs a job again
    cgexplain("--log", log, "states", "--no-such-option")
    text = log.read_text()
    assert [int(m.group(1)) for m in HEADER.finditer(text)] == [1, 2, 3]
    assert text.count("cgexplain states: error:") == 3


def test_killed_md_then_rerun_logs_fresh_then_resumed(tmp_path):
    params = {"temperature_K": 300.0, "seed": 5,
              "md": {"n_molecules": 125, "box_A": [20.768, 20.410, 17.969], "friction_per_ps": 1.0, "platform": "CPU", "checkpoint_interval_ps": 0.1,
                     "report_interval_ps": 0.5, "temperature_band": [0.5, 2.0], "reproducible": True,
                     "timestep_fs": 2.0, "save_interval_ps": 0.1, "equilibration_ps": 0.1,
                     "production_ps": 20.0, "nonbonded_cutoff_nm": 0.88}}
    pfile = tmp_path / "params.json"
    out, log = tmp_path / "aa" / "replica_0.h5", tmp_path / "logs" / "md.log"
    args = ("--log", log, "md", "--system", "methane", "--params", pfile, "--out", out)
    ckpt = tmp_path / "aa" / "work" / "replica_0" / "production.chk"

    def run_and_kill(production_ps):
        params["md"]["production_ps"] = production_ps
        pfile.write_text(json.dumps(params))
        started = time.time_ns()
        proc = cgexplain(*args, wait=False)
        deadline = time.time() + 120

        def new_checkpoint():
            try:
                return ckpt.stat().st_mtime_ns > started
            except FileNotFoundError:
                return False

        while not new_checkpoint() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert ckpt.exists() and not out.exists()
        log.unlink()  # Snakemake deletes the log before the next attempt

    run_and_kill(4.0)
    run_and_kill(3.0)  # another configuration: the first run's checkpoint must go
    assert cgexplain(*args).returncode == 0 and out.exists()  # same configuration: resumes
    modes = [m.group(2) for m in HEADER.finditer(log.read_text())]
    assert modes[0] == "fresh (reference MD of methane replica 0)"
    assert modes[1].startswith("fresh (reference MD of methane replica 0: discarded the state")
    assert "different configuration" in modes[1]
    assert modes[2].startswith("resumed (reference MD of methane replica 0: state in")
