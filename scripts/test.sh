#!/usr/bin/env bash
# The project's test command (`npm test`, run by CI): set up and build, type-check, unit tests, then
# the root suites (bpf, integration, e2e). Every check runs even when an earlier one failed, so one
# CI run reports everything; the exit status is non-zero when any of them failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
failed=()
check() {
  local label=$1 status=0
  shift
  step "$label"
  "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    # 128+n: killed by signal n (137: SIGKILL), which leaves no test summary behind.
    echo "test: \"$label\" failed with exit status $status" >&2
    failed+=("$label")
  fi
}
test_netns() { ip netns list | awk '$1 ~ /^braid-t-/ { print $1 }' | sort; }
# braid's default locations on a node (src/base/defaults.ts): tests point every dir, pin root and
# socket at temp locations, so the suite must not create anything here.
host_paths() {
  find /etc/cni/braid /etc/cni/net.d/00-braid.conflist /var/lib/cni/braid /var/lib/cni/braid-veth \
    /var/lib/cni/multus /sys/fs/bpf/braid /run/braid /opt/cni/bin /var/run/k8s.cni.cncf.io \
    -maxdepth 2 2>/dev/null | sort
}

# Lines of $2 that $1 did not have fail the run as $5 (listed after $3); none prints $4.
nothing_new() {
  local new
  new=$(comm -13 <(echo "$1") <(echo "$2") | grep . || true)
  if [ -n "$new" ]; then
    echo "$3" $new
    failed+=("$5")
  else
    echo "$4"
  fi
}

# Nothing below can run without the packages, node_modules and the build.
bash scripts/setup.sh || { echo "test: scripts/setup.sh failed" >&2; exit 1; }
# Node 24 (the devDependency) for npx and for the tools' `#!/usr/bin/env node`.
export PATH="$PWD/node_modules/.bin:$PATH"
netns_before=$(test_netns)
host_before=$(host_paths)

check "Type check (tsc)" npx tsc --noEmit -p tsconfig.json
check "Import layers" node scripts/check-imports.mjs
# Biome's rules and formatting (`biome check`, biome.json); `npm run format` writes the format.
check "Lint" npm run lint --silent
check "Unit tests" npx vitest run --project unit
check "Root suites (bpf, integration, e2e)" npx vitest run --project bpf --project integration --project e2e

# Tests must remove the namespaces they create: one that outlives them is a test bug. Namespaces
# that were there before this run are not counted (on a shared machine they may be another run's).
step "Leftover network namespaces (braid-t-*)"
nothing_new "$netns_before" "$(test_netns)" "left behind by the tests:" "none" "leftover netns"

step "braid's default host paths (untouched by the tests)"
nothing_new "$host_before" "$(host_paths)" "created by the tests:" "none created" "host paths"

if [ ${#failed[@]} -gt 0 ]; then
  summary=$(printf '%s; ' "${failed[@]}")
  step "FAILED: ${summary%; }"
  exit 1
fi
step "All checks passed"
