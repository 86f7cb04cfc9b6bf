#!/usr/bin/env bash
# The project's test command (`npm test`, run by CI): set up and build, type-check, unit tests, then
# the root suites (bpf, integration, e2e). Every check runs even when an earlier one failed, so one
# CI run reports everything; the exit status is non-zero when any of them failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
failed=()
check() {
  local label=$1; shift
  step "$label"
  "$@" || failed+=("$label")
}

# Nothing below can run without the packages, node_modules and the build.
bash scripts/setup.sh || { echo "test: scripts/setup.sh failed" >&2; exit 1; }
# Node 24 (the devDependency) for npx and for the tools' `#!/usr/bin/env node`.
export PATH="$PWD/node_modules/.bin:$PATH"

check "Type check (tsc)" npx tsc --noEmit -p tsconfig.json
check "Unit tests" npx vitest run --project unit
check "Root suites: bpf, integration, e2e" npx vitest run --project bpf --project integration --project e2e

# Tests must remove the namespaces they create; any left over is a test bug. They are removed here
# so that the next run starts clean, and the run still fails.
step "Leftover network namespaces (braid-t-*)"
leftover=$(ip netns list | awk '$1 ~ /^braid-t-/ { print $1 }')
if [ -n "$leftover" ]; then
  echo "left behind by the tests:" $leftover
  for ns in $leftover; do ip netns del "$ns" || true; done
  failed+=("leftover netns")
else
  echo "none"
fi

if [ ${#failed[@]} -gt 0 ]; then
  step "FAILED: $(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')"
  exit 1
fi
step "All checks passed"
