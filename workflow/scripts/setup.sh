#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine (idempotent): the Debian packages of the IMC stage and of
# the Slurm test, and the Python package with pinned dependencies (CPU torch kept by constraints.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PYTHON:-python3}
APT_PACKAGES="votca lammps"
# tests/test_slurm.py brings up a private single-node Slurm (Debian's slurm-wlm 22.05, its accounting daemon
# slurmdbd backed by a private MariaDB, and munge) and runs the Slurm profile on it. Debian's packages start
# no service in a container; on a systemd machine apt starts munge and mariadb (stop/disable them if unwanted).
# SETUP_SLURM=0 leaves these out (the Slurm test then skips).
SLURM_PACKAGES="slurm-wlm slurmdbd munge mariadb-server"

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
want=""
for bin in csg_inverse lmp; do have "$bin" || want="$APT_PACKAGES"; done
if [ "${SETUP_SLURM:-1}" != 0 ]; then
  for bin in slurmctld slurmd slurmdbd sbatch sacct sacctmgr munged mungekey mariadbd mariadb-install-db; do
    have "$bin" || { want="$want $SLURM_PACKAGES"; break; }
  done
fi
if [ -n "$want" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    echo "setup: installing Debian packages:$want" | tr -s ' '
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $want
  else
    echo "setup: warning: no apt-get; install VOTCA-CSG and LAMMPS yourself (or use envs/imc.yaml); the Slurm test will skip" >&2
  fi
fi

echo "setup: installing the cgexplain package and its pinned dependencies"
"$PY" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
# pyenv only creates command shims for new console scripts on `pyenv rehash`
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
command -v cgexplain >/dev/null 2>&1 || { echo "setup: 'cgexplain' is not on PATH; add the Python scripts folder to PATH" >&2; exit 1; }
"$PY" -c "import torch, cgexplain.core.compat, openmm; print('setup: torch', torch.__version__, '| openmm', openmm.__version__)"
