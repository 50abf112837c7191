"""The require-tools switch (CGEXPLAIN_REQUIRE_TOOLS=1, set by .ci/run): a test that lacks an external
tool fails instead of skipping, so a broken install step turns CI red instead of turning IMC or Slurm
coverage off unseen."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, skip_or_fail


@pytest.mark.parametrize("switch", ["CGEXPLAIN_REQUIRE_TOOLS", "CGEXPLAIN_REQUIRE_SLURM"])
def test_skip_or_fail(monkeypatch, switch):
    for name in ("CGEXPLAIN_REQUIRE_TOOLS", "CGEXPLAIN_REQUIRE_SLURM"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no lmp"):
        skip_or_fail("no lmp", "CGEXPLAIN_REQUIRE_SLURM")
    monkeypatch.setenv(switch, "1")
    with pytest.raises(pytest.fail.Exception, match="CGEXPLAIN_REQUIRE_TOOLS=1 and this test cannot run: no lmp"):
        skip_or_fail("no lmp", "CGEXPLAIN_REQUIRE_SLURM")
    if switch == "CGEXPLAIN_REQUIRE_SLURM":  # the Slurm tests' older switch says nothing about IMC
        with pytest.raises(pytest.skip.Exception):
            skip_or_fail("no lmp")


def test_an_imc_test_without_lammps_fails_under_the_switch(tmp_path):
    """tests/test_imc.py run with a PATH that has VOTCA's csg_inverse but no lmp: under the switch its
    IMC test fails, naming lmp; without it, the test is skipped."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    csg = shutil.which("csg_inverse")
    if csg:
        (bin_dir / "csg_inverse").symlink_to(csg)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CGEXPLAIN_REQUIRE")}
    env.update(PATH=str(bin_dir), PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "workflow"),
                                                                           env.get("PYTHONPATH")])))
    test = "tests/test_imc.py::test_exported_table_matches_votcas_own_lammps_conversion"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsfE", test]
    on = subprocess.run(cmd, cwd=REPO, env={**env, "CGEXPLAIN_REQUIRE_TOOLS": "1"}, capture_output=True,
                        text=True, timeout=300)
    assert on.returncode == 1, on.stdout[-3000:]
    assert "CGEXPLAIN_REQUIRE_TOOLS=1 and this test cannot run" in on.stdout and "lmp not on PATH" in on.stdout
    assert "1 error" in on.stdout or "1 failed" in on.stdout
    off = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert off.returncode == 0 and "1 skipped" in off.stdout, off.stdout[-3000:]
    assert Path(REPO / ".ci" / "run").read_text().count("export CGEXPLAIN_REQUIRE_TOOLS=1") == 1
