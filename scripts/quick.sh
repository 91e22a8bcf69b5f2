#!/usr/bin/env bash
# The README's quick benchmark: every available backend, then the charts.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/quick.json}"
echobench run --quick --out "$out"
echobench plot "$out" --out "${out%.json}-charts"
