#!/usr/bin/env bash
# Every benchmark: builds the release binaries once, runs each scripts/bench/<topic>.sh (each
# prints markdown rows `| figure | baseline | subject | ratio | goal |`, every ratio the median
# of RUNS alternated pairs against a baseline run side by side), then the cargo benches (engine,
# embedded stack, AWS worker against moto). PROFILE=debug skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
profile=${PROFILE:-release}
# transflow-confine is the exec helper every ffmpeg and ffprobe starts through.
build=(nice -n 10 cargo build --bin transflow --bin transflow-confine)
if [ "$profile" = release ]; then "${build[@]}" --release; else "${build[@]}"; fi
export TRANSFLOW="$PWD/target/$profile/transflow"
export TRANSFLOW_DATA_DIR="${TMPDIR:-/tmp}/transflow-bench"
"$TRANSFLOW" bake >/dev/null 2>&1

echo "| figure | baseline | subject | ratio | goal |"
echo "|---|---|---|---|---|"
for script in scripts/bench/*.sh; do
    [ "$(basename "$script")" = lib.sh ] || bash "$script"
done

cargo bench -p transflow-tests --bench engine --bench embedded
cargo bench -p transflow-cli --bench aws
