#!/usr/bin/env bash
# Wall time of the whole smoke-tier DAG on a fresh clone (set-up already done on this machine).
#   bash benchmarks/bench_smoke.sh [CORES]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
d=$(mktemp -d)
git clone -q "$repo" "$d/clone"
cd "$d/clone"
start=$(date +%s)
snakemake --cores "${1:-2}" --configfile config/smoke.yaml --quiet > "$d/smoke.log" 2>&1 || { tail -50 "$d/smoke.log"; exit 1; }
end=$(date +%s)
n=$(ls results/smoke/figures/*.png | wc -l)
printf "%-28s %10s %8s\n" "benchmark" "wall (s)" "figures"
printf "%-28s %10d %8d\n" "smoke tier, fresh clone" "$((end - start))" "$n"
rm -rf "$d"
