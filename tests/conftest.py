import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

#: CI sets this (.ci/run): a test that lacks an external tool (VOTCA/LAMMPS for IMC, the test Slurm and
#: root for it) then FAILS instead of skipping, so a broken install step cannot turn coverage off unseen.
REQUIRE_TOOLS = "CGEXPLAIN_REQUIRE_TOOLS"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def tools_required(*also: str) -> bool:
    """Whether CGEXPLAIN_REQUIRE_TOOLS=1 (or one of the older switches ``also``, e.g.
    CGEXPLAIN_REQUIRE_SLURM) is set."""
    return any(os.environ.get(name) == "1" for name in (REQUIRE_TOOLS, *also))


def skip_or_fail(reason: str, *also: str) -> None:
    """Skip the calling test because this machine lacks a tool (``reason``), or fail it when the
    require-tools switch is set."""
    if tools_required(*also):
        pytest.fail(f"{REQUIRE_TOOLS}=1 and this test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The whole smoke tier, run once per session through snakemake in a copy of the repository (a few
    minutes on 2 cores). tests/test_pipeline.py checks it end to end; tests/test_chain.py compares its
    chained methane stages with these single-job results."""
    from test_pipeline import copy_repo, snakemake

    work = copy_repo(tmp_path_factory.mktemp("smoke"))
    r = snakemake("--cores", "2", "--configfile", "config/smoke.yaml", cwd=work, timeout=2400)
    assert r.returncode == 0, r.stderr[-5000:]
    return work
