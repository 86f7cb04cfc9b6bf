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

# Nothing below can run without the packages, node_modules and the build.
bash scripts/setup.sh || { echo "test: scripts/setup.sh failed" >&2; exit 1; }
# Node 24 (the devDependency) for npx and for the tools' `#!/usr/bin/env node`.
export PATH="$PWD/node_modules/.bin:$PATH"
netns_before=$(test_netns)
host_before=$(host_paths)

check "Type check (tsc)" npx tsc --noEmit -p tsconfig.json
check "Import layers" node scripts/check-imports.mjs
# Lint rules only (biome.json). Format checking is on once the tree has been formatted in one commit
# of its own (`npm run format`): then package.json's "lint" becomes "biome check" (rules + format).
check "Lint" npm run lint --silent
check "Unit tests" npx vitest run --project unit
check "Root suites (bpf, integration, e2e)" npx vitest run --project bpf --project integration --project e2e

# Tests must remove the namespaces they create: one that outlives them is a test bug. Namespaces
# that were there before this run are not counted (on a shared machine they may be another run's).
step "Leftover network namespaces (braid-t-*)"
leftover=$(comm -13 <(echo "$netns_before") <(test_netns) | grep . || true)
if [ -n "$leftover" ]; then
  echo "left behind by the tests:" $leftover
  failed+=("leftover netns")
else
  echo "none"
fi

step "braid's default host paths (untouched by the tests)"
created=$(comm -13 <(echo "$host_before") <(host_paths) | grep . || true)
if [ -n "$created" ]; then
  echo "created by the tests:" $created
  failed+=("host paths")
else
  echo "none created"
fi

if [ ${#failed[@]} -gt 0 ]; then
  summary=$(printf '%s; ' "${failed[@]}")
  step "FAILED: ${summary%; }"
  exit 1
fi
step "All checks passed"
