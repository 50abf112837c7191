#!/usr/bin/env bash
# Every CUDA path of the workflow, run and timed, in one script (≤ 8 minutes on one H100):
#
#   bash benchmarks/gpu_check.sh                 # on a GPU machine: DEV=cuda SIZE=check
#   DEV=cpu SIZE=tiny bash benchmarks/gpu_check.sh   # anywhere; CI runs this (tests/test_gpu_check.py)
#
# 1. benchmarks/gpu_check.py: reference MD (OpenMM; methane PME, NTL9 implicit solvent), training, CG
#    simulation, relevance (float32 and float64) and explain for PaiNN, SO3net and SchNet, on DEV and,
#    when DEV is a GPU, again on the CPU; one table with the ratio.
# 2. The smoke DAG subset through Snakemake with `--resources gpu=1` and `device: DEV`: methane reference
#    MD, CG mapping, PaiNN training, CG simulation and relevance, in a temporary results folder.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
DEV=${DEV:-cuda}
SIZE=${SIZE:-check}
PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$repo"

echo "== gpu_check: stages (DEV=$DEV SIZE=$SIZE)"
"$PY" -c "import torch, openmm; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '| GPUs', torch.cuda.device_count(), '| OpenMM platforms', [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())])"
"$PY" benchmarks/gpu_check.py --device "$DEV" --size "$SIZE" 2> "$tmp/stages.log" || { tail -40 "$tmp/stages.log"; exit 1; }

echo "== gpu_check: smoke DAG subset through Snakemake (--resources gpu=1, device $DEV)"
results="$tmp/results"
{
  echo "results: $results"
  echo "device: $DEV"
  if [ "$SIZE" = tiny ]; then
    echo "systems: {methane: {md: {equilibration_ps: 0.5, production_ps: 2.0, save_interval_ps: 0.1}}}"
    echo "train: {max_epochs: 1, max_train_frames: 8, max_val_frames: 4}"
    echo "simulate: {n_steps: 40, save_interval: 10, checkpoint_interval: 20}"
  fi
} > "$tmp/overlay.yaml"
targets=("$results/methane/models/painn/model.pt" "$results/methane/cgsim/painn/trajectory.npz"
         "$results/methane/relevance/painn/aa.npz")
start=$(date +%s.%N)
"$PY" -m snakemake --cores 2 --resources gpu=1 --configfile config/config.yaml config/smoke.yaml "$tmp/overlay.yaml" \
  --quiet rules -- "${targets[@]}" > "$tmp/dag.log" 2>&1 || { tail -60 "$tmp/dag.log"; exit 1; }
end=$(date +%s.%N)
for t in "${targets[@]}"; do [ -s "$t" ] || { echo "gpu_check: missing $t"; exit 1; }; done
# the device each torch stage logged (core.device.describe: "device cuda:0 (NAME, CUDA x), float32, ...")
devices=$(grep -h "deterministic kernels" "$results"/logs/*/*.log 2>/dev/null | grep -o "device [a-z]*[:0-9]*" \
          | sort | uniq -c | awk '{printf "%s×%s %s; ", $1, $2, $3}')
awk -v s="$start" -v e="$end" -v d="$DEV" -v l="$devices" \
  'BEGIN { printf "%-26s %-8s %9.2f   stages logged: %s\n", "smoke DAG subset", d, e - s, l }'
