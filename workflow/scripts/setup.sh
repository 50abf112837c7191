#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine (idempotent): the Debian packages of the IMC stage
# and the Python package with pinned dependencies (CPU torch kept by constraints.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PYTHON:-python3}
APT_PACKAGES="votca lammps"

missing=""
for bin in csg_inverse lmp; do command -v "$bin" >/dev/null 2>&1 || missing=1; done
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    echo "setup: installing Debian packages: $APT_PACKAGES"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $APT_PACKAGES
  else
    echo "setup: warning: no apt-get; install VOTCA-CSG and LAMMPS yourself (or use envs/imc.yaml)" >&2
  fi
fi

echo "setup: installing the cgexplain package and its pinned dependencies"
"$PY" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
# pyenv only creates command shims for new console scripts on `pyenv rehash`
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
command -v cgexplain >/dev/null 2>&1 || { echo "setup: 'cgexplain' is not on PATH; add the Python scripts folder to PATH" >&2; exit 1; }
"$PY" -c "import torch, cgexplain.compat, openmm; print('setup: torch', torch.__version__, '| openmm', openmm.__version__)"
