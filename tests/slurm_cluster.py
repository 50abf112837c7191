"""A private single-node Slurm for tests (Debian `slurm-wlm` 22.05, `slurmdbd`, `munge`, `mariadb-server`).

Everything lives under one temporary directory and listens on 127.0.0.1 only: munged, a private MariaDB,
slurmdbd (accounting: the executor plugin reads job states with `sacct`), slurmctld and two slurmd, one
per node of this host:

  partition `gpu`: node `cggpu`, 2 CPUs, one GPU of model `testgpu` declared as gres (gres.conf
                   `File=/dev/null`; no real GPU)
  partition `cpu`: node `cgcpu`, 2 CPUs, no GPU: a job asking for a GPU there is rejected at submission
                   ("Requested node configuration is not available"), as on a real cluster, so a GPU rule
                   routed to the wrong partition fails.

Each daemon is started in the foreground by this module and stopped by its PID (never by name). The job
step (`srun` inside each job) drops every SLURM_* variable, SLURM_CONF included, so the configuration must
also be at the default path: the cluster makes the symlink /etc/slurm/slurm.conf -> its own slurm.conf and
removes it on exit; it refuses (SlurmUnavailable) when a real /etc/slurm/slurm.conf exists.

    with SlurmCluster(account="cgexplain") as c:
        subprocess.run(["sbatch", "-p", "gpu", "--gpus=1", "--wrap", "true"], env=c.env)

As a pytest fixture: `slurm_cluster` in tests/test_slurm.py (skips when not root or the binaries are missing;
fails instead under CGEXPLAIN_REQUIRE_TOOLS=1, as CI runs).
Run `python tests/slurm_cluster.py` to bring one up by hand (Ctrl-C stops it).
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARIES = ("munged", "mungekey", "mariadb-install-db", "mariadbd", "slurmdbd", "slurmctld", "slurmd",
            "sacctmgr", "sbatch", "sacct", "sinfo", "scancel", "srun")
APT_PACKAGES = "slurm-wlm slurmdbd munge mariadb-server"
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARK = "cgexplain-slurm-"          # prefix of the temporary directory: marks a symlink as ours
CLUSTER = "cgtest"
NODES = {"gpu": "cggpu", "cpu": "cgcpu"}
GPU_TYPE = "testgpu"                # the GPU model the gpu node declares (--gpus=1 and --gpus=testgpu:1 fit)


class SlurmUnavailable(RuntimeError):
    """This machine cannot host the test cluster (the message says why)."""


def unavailable_reason() -> str | None:
    """Why a test Slurm cannot be brought up here, or None."""
    if os.name != "posix" or os.geteuid() != 0:
        return "the test Slurm needs root (its daemons run as root)"
    missing = [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install {APT_PACKAGES})"
    if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
        if not _ours(SYSTEM_CONF):
            return f"{SYSTEM_CONF} exists and is not this test's: a real Slurm is configured here"
        if SYSTEM_CONF.exists():            # ours, and its cluster's directory is still there
            return (f"another test Slurm is up ({SYSTEM_CONF} -> {os.readlink(SYSTEM_CONF)}; "
                    "remove the link if no test is running)")
    return None


def _ours(path: Path) -> bool:
    """A symlink left by a test cluster (possibly dangling after a crash)."""
    return path.is_symlink() and MARK in os.readlink(path)


def _which(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class SlurmCluster:
    """Context manager: a private Slurm cluster `cgtest` with partitions gpu and cpu (see module doc).

    account: the account registered for the current user (the one the profile's `slurm_account` names).
    cpus, mem_mb: what each of the two nodes declares (memory is not enforced: no cgroups).
    After __enter__: `env` (os.environ plus SLURM_CONF) for Slurm client commands, `root` (the temp dir),
    `conf` (its slurm.conf). os.environ["SLURM_CONF"] is also set while the cluster is up.
    """

    def __init__(self, account: str = "cgexplain", cpus: int = 2, mem_mb: int = 8000, timeout: float = 60.0):
        self.account, self.cpus, self.mem_mb, self.timeout = account, cpus, mem_mb, timeout
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.root: Path | None = None
        self._made_link = self._made_etc = False
        self._old_conf = None

    # --- life cycle -------------------------------------------------------------------------------------
    def __enter__(self) -> "SlurmCluster":
        reason = unavailable_reason()
        if reason:
            raise SlurmUnavailable(reason)
        # short paths: unix socket names (munge, MariaDB) are limited to 108 bytes
        self.root = Path(tempfile.mkdtemp(prefix=MARK, dir="/tmp" if os.path.isdir("/tmp") else None))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self) -> None:
        r = self.root
        r.chmod(0o755)                      # munged wants a world-executable path to its socket
        for d in ("munge", "run", "db", "state", "spool", "log"):
            (r / d).mkdir(mode=0o755)
        (r / "munge").chmod(0o700)
        for node in NODES.values():
            (r / "spool" / node).mkdir()
        self.host = socket.gethostname().split(".")[0]
        self.munge_socket = r / "run" / "munge.socket"
        self.ports = {k: _free_port() for k in ("db", "dbd", "ctld", *NODES.values())}
        self.conf = r / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self._start_munge()
        self._start_mariadb()
        self._write_configs()
        self._link_system_conf()
        self._start_slurmdbd()
        self._register_accounting()
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: _port_open(self.ports["ctld"]), "slurmctld")
        for node in NODES.values():
            self._spawn(f"slurmd-{node}", [_which("slurmd"), "-D", "-N", node, "-f", str(self.conf)])
        self._wait(self._nodes_idle, "both slurmd nodes idle")
        self._old_conf = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(self.conf)

    def stop(self) -> None:
        """Cancel the jobs, stop every daemon this cluster started (by PID, newest first), remove its
        /etc/slurm/slurm.conf symlink and its temporary directory."""
        if any(n == "slurmctld" and p.poll() is None for n, p in self.procs):
            subprocess.run(["scancel", "--full", f"--clusters={CLUSTER}", "--user", str(os.getuid())],
                           env=self.env, capture_output=True, timeout=20)
            deadline = time.time() + 15
            while time.time() < deadline and self._squeue_ids():
                time.sleep(0.5)
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        self.procs.clear()
        if self._made_link and _ours(SYSTEM_CONF):
            SYSTEM_CONF.unlink()
            if self._made_etc:
                try:
                    SYSTEM_CONF.parent.rmdir()
                except OSError:
                    pass
        self._made_link = False
        if self._old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._old_conf
        if self.root is not None and os.environ.get("CGEXPLAIN_KEEP_SLURM") != "1":
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # --- helpers ------------------------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.root / "log" / f"{name}.out", "ab")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=self.env, start_new_session=True)
        log.close()
        self.procs.append((name, p))
        return p

    def _wait(self, ready, what: str) -> None:
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited ({p.returncode}) while waiting for {what}: "
                                       f"{self.log_tail(name)}")
            if ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"test Slurm: timed out waiting for {what}")

    def log_tail(self, name: str, n: int = 2000) -> str:
        text = ""
        for f in sorted((self.root / "log").glob(f"{name}*")):
            text += f"\n--- {f.name}\n" + f.read_text(errors="replace")[-n:]
        return text

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster."""
        p = subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stdout}{p.stderr}")
        return p

    def _squeue_ids(self) -> list[str]:
        p = subprocess.run(["squeue", "-h", "-o", "%i"], env=self.env, capture_output=True, text=True,
                           timeout=20)
        return p.stdout.split() if p.returncode == 0 else []

    def _nodes_idle(self) -> bool:
        p = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env, capture_output=True, text=True,
                           timeout=20)
        states = dict(line.split() for line in p.stdout.splitlines() if line.strip())
        return all(states.get(n, "").startswith("idle") for n in NODES.values())

    # --- daemons --------------------------------------------------------------------------------------------
    def _start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        subprocess.run([_which("mungekey"), "--create", "--keyfile", str(key)], check=True, capture_output=True)
        key.chmod(0o600)
        self._spawn("munged", [_which("munged"), "--foreground", f"--socket={self.munge_socket}",
                               f"--key-file={key}", f"--log-file={self.root / 'log' / 'munged.log'}",
                               f"--pid-file={self.root / 'run' / 'munged.pid'}",
                               f"--seed-file={self.root / 'munge' / 'munged.seed'}"])
        self._wait(self.munge_socket.exists, "munged's socket")

    def _start_mariadb(self) -> None:
        data = self.root / "db"
        self.db_socket = self.root / "run" / "mariadb.sock"
        subprocess.run([_which("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)
        self._spawn("mariadbd", [_which("mariadbd"), "--no-defaults", f"--datadir={data}", "--user=root",
                                 f"--socket={self.db_socket}", f"--port={self.ports['db']}",
                                 "--bind-address=127.0.0.1", "--skip-name-resolve",
                                 f"--pid-file={self.root / 'run' / 'mariadbd.pid'}",
                                 "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M"])
        self._wait(lambda: _port_open(self.ports["db"]), "mariadbd")

    def _start_slurmdbd(self) -> None:
        self._spawn("slurmdbd", [_which("slurmdbd"), "-D"])
        self._wait(lambda: _port_open(self.ports["dbd"]), "slurmdbd")

    def _register_accounting(self) -> None:
        user = pwd.getpwuid(os.getuid()).pw_name   # the name Slurm knows the submitting user by
        for cmd in (["add", "cluster", CLUSTER],
                    ["add", "account", self.account, f"Cluster={CLUSTER}", "Description=test"],
                    ["add", "user", user, f"Account={self.account}", f"Cluster={CLUSTER}"]):
            self.run("sacctmgr", "-i", *cmd)

    def _link_system_conf(self) -> None:
        if _ours(SYSTEM_CONF) and not SYSTEM_CONF.exists():
            SYSTEM_CONF.unlink()            # dangling: left by a crashed run
        if not SYSTEM_CONF.parent.exists():
            SYSTEM_CONF.parent.mkdir(parents=True)
            self._made_etc = True
        SYSTEM_CONF.symlink_to(self.conf)
        self._made_link = True

    def _write_configs(self) -> None:
        r, sock = self.root, self.munge_socket
        gpu, cpu = NODES["gpu"], NODES["cpu"]
        node = f"NodeHostname={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb}"
        self.conf.write_text(f"""\
# written by tests/slurm_cluster.py
ClusterName={CLUSTER}
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={self.ports['ctld']}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool/%n
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.%n.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
InactiveLimit=0
KillWait=5
MinJobAge=300
MailProg=/bin/true
EnforcePartLimits=ALL
GresTypes=gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={self.ports['dbd']}
AccountingStoragePass={sock}
AccountingStorageTRES=gres/gpu,gres/gpu:{GPU_TYPE}
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
NodeName={gpu} {node} Port={self.ports[gpu]} Gres=gpu:{GPU_TYPE}:1 State=UNKNOWN
NodeName={cpu} {node} Port={self.ports[cpu]} State=UNKNOWN
PartitionName=cpu Nodes={cpu} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={gpu} MaxTime=INFINITE State=UP
""")
        (r / "gres.conf").write_text(f"NodeName={gpu} Name=gpu Type={GPU_TYPE} File=/dev/null Count=1\n")
        dbd = r / "slurmdbd.conf"
        dbd.write_text(f"""\
AuthType=auth/munge
AuthInfo=socket={sock}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={self.ports['dbd']}
SlurmUser=root
PidFile={r}/run/slurmdbd.pid
LogFile={r}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.ports['db']}
StorageUser=root
StorageLoc=slurm_acct_db
""")
        dbd.chmod(0o600)


if __name__ == "__main__":
    with SlurmCluster() as c:
        print(f"test Slurm up under {c.root}; export SLURM_CONF={c.conf}; Ctrl-C stops it")
        print(c.run("sinfo").stdout)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
