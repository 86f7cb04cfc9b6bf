#!/usr/bin/env bash
# The README's demo command (`npm run demo`): set up and build, then run braid's demo scenario.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec dist/bin/braid demo "$@"
