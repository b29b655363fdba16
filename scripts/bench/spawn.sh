#!/usr/bin/env bash
# Several ffmpeg runs in one step (issue 14): `audio-encode` on INPUTS uploads (default 4), whose
# `encode` step spawns one run per input and joins them, with the default CPU budget (one run per
# core, so the runs go side by side) ÷ the same with `--cpu-budget 1` (one run at a time). The
# default budget also lets the `waveform` step go beside `encode`, as it would on a worker; both
# steps are audio-only and single-threaded, so the ratio is what spawned runs gain on this
# machine's cores. One row per clip: a 30 s stereo WAV tone and the 10 s 720p testsrc2 clip
# (H.264 + AAC) of the other figures, each copied to INPUTS upload names.
# Pairs alternate; medians of RUNS (≥ 5). PROFILE=debug skips the release build. Prints
# markdown rows `| figure | baseline | subject | ratio | goal |`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
transflow=$(build_transflow)
export TRANSFLOW_DATA_DIR="${TMPDIR:-/tmp}/transflow-bench-spawn"
mkdir -p "$TRANSFLOW_DATA_DIR"
$transflow bake audio-encode >/dev/null 2>&1
inputs=${INPUTS:-4}

# `copies NAME EXT LAVFI_ARGS…`: NAME.EXT made once by ffmpeg from LAVFI_ARGS, then copied to
# NAME-1.EXT … NAME-$inputs.EXT (distinct upload names give distinct output names); prints them.
copies() {
    local name=$1 ext=$2 source="$TRANSFLOW_DATA_DIR/$1.$2"
    shift 2
    [ -s "$source" ] || ffmpeg -hide_banner -loglevel error -y "$@" "$source"
    for i in $(seq "$inputs"); do
        cp "$source" "$TRANSFLOW_DATA_DIR/$name-$i.$ext"
        echo "$TRANSFLOW_DATA_DIR/$name-$i.$ext"
    done
}

encode_all() { $transflow run --template audio-encode "$@" "${files[@]}"; }
one_at_a_time() { encode_all --cpu-budget 1; }
side_by_side() { encode_all; }

mapfile -t files < <(copies tone wav -f lavfi -i sine=frequency=330:sample_rate=48000:duration=30 -ac 2)
pairs "audio-encode, $inputs × 30 s WAV, runs side by side ÷ one at a time (s)" "—" one_at_a_time side_by_side
mapfile -t files < <(copies testsrc2 mp4 \
    -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10 \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest)
pairs "audio-encode, $inputs × 10 s 720p testsrc2, runs side by side ÷ one at a time (s)" "—" one_at_a_time side_by_side
