#!/usr/bin/env bash
# Regenerates every measured number, chart and picture the README shows, on a quiet
# machine: `echobench publish` (see `echobench publish --list` for its steps; options
# such as --only, --skip and --render-only pass through). Nothing in the README's
# tables is typed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
exec echobench publish "$@"
