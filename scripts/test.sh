#!/usr/bin/env bash
# The whole test suite from a fresh clone: setup, lint, typecheck, then every test
# (unit, property, network-namespace and real-control-plane end-to-end) in one run.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$L2LB_ROOT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

bash scripts/setup.sh
if [ -x test/lab/build-tools.sh ] && [ "$(id -u)" = 0 ]; then
  step "Lab tools (built once, cached in $L2LB_CACHE/tools)"
  bash test/lab/build-tools.sh
fi
if [ -x runtime/image/build.sh ] && [ "$(id -u)" = 0 ]; then
  step "Speaker image (base image cached in $L2LB_CACHE/image)"
  bash runtime/image/build.sh
fi
step "Lint"
npm run --silent lint
step "Typecheck"
npm run --silent typecheck
step "Tests"
mapfile -t files < <(find provider runtime test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
node --test --test-reporter=spec --test-concurrency="${L2LB_TEST_CONCURRENCY:-2}" "${files[@]}"
