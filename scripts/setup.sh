#!/usr/bin/env bash
# Prepares a Debian 12 machine to build and test braid: system packages, bpffs, Node 24 and the npm
# dependencies, then the build. Idempotent and quick on a machine that is already set up: every
# step checks first and only acts on what is missing. Runs as root, without a terminal (CI=true).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: the packages, bpffs and the tests need it"

packages=(clang llvm libbpf-dev linux-libc-dev bpftool containernetworking-plugins iproute2
  podman runc containerd busybox-static iperf3 python3 iptables
  jq openssl)  # the tests' spy plugin (jq) and test certificates (openssl)
# Only to run npm the first time; Node 24 itself comes from the `node` devDependency.
command -v npm >/dev/null || packages+=(nodejs npm)

step "System packages"
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for p in "${packages[@]}"; do
  grep -qx "$p installed" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "all ${#packages[@]} packages installed"
else
  echo "installing: ${missing[*]}"
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
fi

step "bpffs at /sys/fs/bpf"
if mountpoint -q /sys/fs/bpf; then
  echo "already mounted"
else
  mount -t bpf bpffs /sys/fs/bpf
  echo "mounted"
fi

step "npm dependencies (Node 24 from the node devDependency)"
node24=node_modules/node/bin/node
# npm records what it installed in node_modules/.package-lock.json; when every package the lock file
# asks for is there in the same version, `npm ci` (which deletes node_modules first) is skipped.
deps_current() {
  [ -x "$node24" ] && [ -f package-lock.json ] && [ -f node_modules/.package-lock.json ] || return 1
  "$node24" --input-type=module -e '
    import { readFileSync } from "node:fs";
    const wanted = JSON.parse(readFileSync("package-lock.json", "utf8")).packages;
    const have = JSON.parse(readFileSync("node_modules/.package-lock.json", "utf8")).packages;
    const stale = Object.entries(wanted).filter(([dir, p]) =>
      dir !== "" && (have[dir] ? have[dir].version !== p.version : !p.optional));
    if (!process.version.startsWith("v24.")) process.exit(1);
    if (stale.length > 0) { console.log(`out of date: ${stale.map(([d]) => d).join(" ")}`); process.exit(1); }'
}
if deps_current; then
  echo "node_modules matches package-lock.json; $("$node24" --version)"
elif [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
[ -x "$node24" ] || die "$node24 is missing after the install: is \"node\" still a devDependency?"

step "Build (npm run build)"
# npm run puts node_modules/.bin first on PATH, so the build runs on Node 24. clang also builds the
# native front door (dist/host/braid) here.
npm run build --silent

step "Single executables (npm run build:sea)"
# dist/sea/braid, braid-veth, braid-agent, and dist/host with the single executable behind the front
# door: what `braid install` puts on a host that has no Node.js.
npm run build:sea --silent

step "Setup done"
