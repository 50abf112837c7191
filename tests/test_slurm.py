"""The Slurm profile on a real Slurm: a private two-partition cluster on this host (tests/slurm_cluster.py)
runs a methane-only subset of the smoke DAG through `--workflow-profile workflow/profiles/slurm`, exactly
as the README tells users, plus the partition check that makes misrouted GPU rules fail.

Needs root and Debian's slurm-wlm, slurmdbd, munge and mariadb-server (workflow/scripts/setup.sh installs
them); skips otherwise, or fails instead when CGEXPLAIN_REQUIRE_TOOLS=1 (as CI runs; CGEXPLAIN_REQUIRE_SLURM=1
too). Takes ~2-8 min on 2 cores.
"""
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import skip_or_fail
from slurm_cluster import SlurmCluster, unavailable_reason

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
RESULTS = "results/slurm_test"
# reference MD, mapping, training, CG simulation, relevance, IMC (+ LAMMPS production) and one figure
TARGETS = [f"{RESULTS}/methane/relevance/painn/aa.npz",
           f"{RESULTS}/methane/cgsim/painn/trajectory.npz",
           f"{RESULTS}/methane/cgsim/imc/trajectory.npz",
           f"{RESULTS}/figures/figS1_imc_baseline.pdf"]
RULES = {"reference_md", "cg_map", "train", "simulate", "relevance", "imc", "imc_sim", "observables", "figS1_imc"}
OVERLAY = f"""\
# methane only, PaiNN only (tests/test_slurm.py)
results: {RESULTS}
models: [painn]
systems:
  water: {{enabled: false}}
  ntl9: {{enabled: false}}
imc: {{systems: [methane], mpi_ranks: 2}}
"""

pytestmark = pytest.mark.slow


def profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = unavailable_reason()
    if reason:
        skip_or_fail(f"no test Slurm: {reason}", "CGEXPLAIN_REQUIRE_SLURM")
    # the cluster registers the account the profile names, so the documented command works as written
    with SlurmCluster(account=profile()["default-resources"]["slurm_account"]) as cluster:
        yield cluster


def copy_repo(dst: Path) -> Path:
    for name in ("Snakefile", "workflow", "config", "resources", "envs"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dst / name)
    return dst


def sbatch(cluster, *args):
    return cluster.run("sbatch", "--parsable", "-A", profile()["default-resources"]["slurm_account"],
                       "-o", "/dev/null", *args, "--wrap", "true", check=False)


def test_gpu_job_on_cpu_partition_is_rejected(slurm_cluster):
    gpu = profile()["set-resources"]["train"]["slurm_partition"]
    cpu = profile()["default-resources"]["slurm_partition"]
    bad = sbatch(slurm_cluster, "--gpus=1", "-p", cpu)
    assert bad.returncode != 0 and "Requested node configuration is not available" in bad.stderr, bad
    good = sbatch(slurm_cluster, "--gpus=1", "-p", gpu)
    assert good.returncode == 0 and good.stdout.strip().split(";")[0].isdigit(), good


MINI = """\
localrules: all
rule all:
    input: "gpu.txt", "cpu.txt"
rule train:          # named like the workflow's GPU rule, so the profile routes it to the GPU partition
    output: "gpu.txt"
    resources: gpu=1
    shell: "echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES > {output}"
rule cg_map:
    output: "cpu.txt"
    shell: "touch {output}"
"""


def test_profile_gpu_model(slurm_cluster, tmp_path):
    """The profile's optional `gpu_model` (in the `&gpu` block) becomes `--gpus=<model>:1`."""
    from slurm_cluster import GPU_TYPE

    prof = tmp_path / "profile"
    prof.mkdir()
    text = PROFILE.read_text()
    commented = re.search(r"^( *)# gpu_model: \S+", text, re.M)
    assert commented, "the profile's &gpu block documents gpu_model"
    text = text.replace(commented.group(0), f'{commented.group(1)}gpu_model: "{GPU_TYPE}"')
    (prof / "config.yaml").write_text(text)
    (tmp_path / "Snakefile").write_text(MINI)
    r = subprocess.run([sys.executable, "-m", "snakemake", "--workflow-profile", str(prof),
                        "--slurm-init-seconds-before-status-checks", "1", "--verbose"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    gpu_call = next(c for c in re.findall(r"sbatch call: (sbatch .*)", out) if "rule_train" in c)
    assert f"--gpus={GPU_TYPE}:1" in gpu_call and "-p gpu" in gpu_call, gpu_call
    assert (tmp_path / "gpu.txt").read_text().strip() == "CUDA_VISIBLE_DEVICES=0"


def test_profile_runs_methane_subset(slurm_cluster, tmp_path):
    work = copy_repo(tmp_path)
    (work / "slurm_test.yaml").write_text(OVERLAY)
    log = work / "snakemake.log"
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 5))
    cmd = [sys.executable, "-m", "snakemake", "--workflow-profile", "workflow/profiles/slurm",
           "--slurm-init-seconds-before-status-checks", "1", "--verbose", *TARGETS,
           "--configfile", "config/smoke.yaml", "slurm_test.yaml"]
    print("\n$", " ".join(cmd[2:]))
    t0 = time.time()
    with open(log, "w") as fh:
        r = subprocess.run(cmd, cwd=work, stdout=fh, stderr=subprocess.STDOUT, timeout=1200)
    wall = time.time() - t0
    text = log.read_text()
    print(f"slurm subset wall time: {wall:.0f} s (snakemake exit {r.returncode})")
    assert r.returncode == 0, text[-6000:] + slurm_cluster.log_tail("slurmctld")

    for t in TARGETS:
        assert (work / t).stat().st_size > 0, t

    run_id = re.search(r"SLURM run ID: (\S+)", text).group(1)
    # the sbatch lines the plugin built (debug log of --verbose): one GPU and one CPU rule
    calls = re.findall(r"sbatch call: (sbatch .*)", text)
    ran = {m for c in calls for m in re.findall(r"--comment '?rule_([A-Za-z0-9_]+?)_wildcards", c)}
    ran |= {m for c in calls for m in re.findall(r"--comment '?rule_([A-Za-z0-9_]+?)'? ", c)}
    assert RULES <= ran, RULES - ran
    gpu_call = next(c for c in calls if "rule_train_wildcards" in c)
    cpu_call = next(c for c in calls if "rule_imc_sim_wildcards" in c)
    # imc.mpi_ranks: 2 -> two Slurm tasks, LAMMPS as two MPI ranks started by mpirun in the allocation
    imc_call = next(c for c in calls if "rule_imc_wildcards" in c)
    assert "--ntasks=2" in imc_call and "--ntasks=2" in cpu_call, imc_call
    for lammps_log in (f"{RESULTS}/methane/imc/votca/step_001/log.lammps", f"{RESULTS}/methane/imc/production/log.lammps"):
        assert "with 2 MPI tasks" in (work / lammps_log).read_text(), lammps_log
    account = profile()["default-resources"]["slurm_account"]
    assert "--gpus=1" in gpu_call and "-p gpu" in gpu_call and f"-A {account}" in gpu_call, gpu_call
    assert "--gpus" not in cpu_call and "-p cpu" in cpu_call, cpu_call
    for what, c in (("GPU rule train", gpu_call), ("CPU rule imc_sim", cpu_call)):
        head, wrap = c.split(" --wrap=", 1)
        target = re.search(r"--target-jobs '[^']*'", wrap).group(0)
        print(f"sbatch ({what}): {head} --wrap=\"python -m snakemake ... {target} ... --executor slurm-jobstep\""
              .replace(str(work), "<workdir>").replace(run_id, "<run id>"))

    # every job of the run COMPLETED, on the partition the profile gave it
    acct = slurm_cluster.run("sacct", "-X", "-P", "-n", "-S", start, f"--name={run_id}",
                             "-o", "JobID,Comment,Partition,State,AllocTRES,Elapsed").stdout
    rows = [line.split("|") for line in acct.splitlines() if line.strip()]
    print("sacct:\n" + "\n".join(f"  {j:>4} {c[:60]:60} {p:4} {s:10} {e} {tres}" for j, c, p, s, tres, e in rows))
    assert len(rows) >= len(RULES) and all(s == "COMPLETED" for _, _, _, s, _, _ in rows), acct
    assert any(p == "gpu" and "gres/gpu=1" in tres for _, _, p, _, tres, _ in rows), acct
    assert any(p == "cpu" and "gres/gpu" not in tres for _, _, p, _, tres, _ in rows), acct
    for _, comment, p, _, _, _ in rows:
        rule = re.match(r"rule_(.+?)(_wildcards|$)", comment).group(1)
        expected = profile()["set-resources"].get(rule, {}).get(
            "slurm_partition", profile()["default-resources"]["slurm_partition"])
        assert p == expected, (rule, p)
