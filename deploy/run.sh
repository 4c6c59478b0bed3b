#!/usr/bin/env bash
# The first README command: installs what is missing, builds, and runs perfledgerd on its
# embedded default (a durable local log and views under ./perfledger-data, no Kafka).
# Extra arguments go to perfledgerd, e.g. `deploy/run.sh --listen 127.0.0.1:7500`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/install-deps.sh
build="${PERFLEDGER_BUILD_DIR:-$root/build-release}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
ninja -C "$build" -j"${PERFLEDGER_JOBS:-2}" perfledgerd perfctl perfbench
echo "run: perfctl is at $build/tools/perfctl/perfctl"
exec "$build/services/perfledgerd" --data-dir "${PERFLEDGER_DATA_DIR:-$root/perfledger-data}" "$@"
