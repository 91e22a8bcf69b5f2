#!/usr/bin/env bash
# Regenerates every measured number the README quotes, on a quiet machine:
# the client's ceiling, the runner-vs-native agreement, a full default run
# with its charts and the report's screenshot, and the cluster's cost. Nothing in the README's tables is typed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m echobench.benchmarks.truth.client_ceiling
python -m echobench.benchmarks.truth.runner_agreement --readme || echo "runner_agreement: see its table (exit $?)"
echobench run --out results/published/run.json
# The sample results table, its charts, and compare's A/A self-check of the same run.
python -m echobench.benchmarks.truth.sample_results results/published/run.json
# Beyond one machine: client cores per backend from that run, and what Dask costs.
python -m echobench.benchmarks.truth.client_cores results/published/run.json
python -m echobench.benchmarks.truth.cluster_overhead --readme || echo "cluster_overhead: see its table (exit $?)"
# The README's picture of the report: the top of the page a reader opens.
report_dir=$(mktemp -d)
echobench report results/published/run.json --out "$report_dir" --screenshot results/published/report-top.png
rm -r "$report_dir"
# Concurrency at scale: 1 to 10,000 connections and 10 busy among 10,000 idle.
echobench run --scenario scale --out results/published/scale.json
python -m echobench.benchmarks.truth.scale_results results/published/scale.json
