#!/usr/bin/env bash
# Steps as a graph (issue 14), two figures:
#  1. a template with 2 independent steps ÷ the same steps run one after another: `video-encode`
#     with `webm=true` (an H.264 and a VP9 encode of the same upload) under `transflow run`,
#     the baseline with `--cpu-budget 1` (one ffmpeg run, so one step, at a time), the subject
#     with the default budget (one run per core);
#  2. 100 small assemblies (2 s 320×240, `video-thumbnails`) through `transflow dev`'s API,
#     from the first create-upload to the last completed status, ÷ (the CPU time the same ffprobe
#     + ffmpeg commands take run directly, ÷ cores).
# Pairs alternate; medians of RUNS (≥ 5). PROFILE=debug skips the release build. Prints
# markdown rows `| figure | baseline | subject | ratio | goal |`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
profile=${PROFILE:-release}
build=(cargo build --bin transflow --bin transflow-confine)
if [ "$profile" = release ]; then "${build[@]}" --release >&2; else "${build[@]}" >&2; fi
transflow="$PWD/target/$profile/transflow"
export TRANSFLOW_DATA_DIR="${TMPDIR:-/tmp}/transflow-bench-graph"
mkdir -p "$TRANSFLOW_DATA_DIR"
$transflow bake video-encode video-thumbnails >/dev/null 2>&1
cores=$(nproc)

# 1. Two independent steps.
clip="$TRANSFLOW_DATA_DIR/clip-360p.mp4"
[ -s "$clip" ] || ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i testsrc2=size=640x360:rate=30:duration=10 \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$clip"
encode_both() { $transflow run --template video-encode --field webm=true --field height=360 "$@" "$clip"; }
sequential() { encode_both --cpu-budget 1; }
side_by_side() { encode_both; }
pairs "video-encode encode + webm, side by side ÷ one after another (s)" "≤ 0.6" sequential side_by_side

# 2. 100 small assemblies on `transflow dev`.
small="$TRANSFLOW_DATA_DIR/small-240p.mp4"
[ -s "$small" ] || ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=2 \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$small"
assemblies=${ASSEMBLIES:-100}
raw="$TRANSFLOW_DATA_DIR/raw"
# The commands video-thumbnails runs for one upload (see templates/video-thumbnails/src/lib.rs).
raw_assembly() {
    rm -rf "$raw" && mkdir -p "$raw"
    ffprobe -v error -print_format json -show_format -show_streams "$small" >/dev/null
    ffmpeg -nostdin -y -loglevel error -i "$small" \
        -vf "tpad=stop_mode=clone:stop_duration=2000ms,setpts=PTS-STARTPTS-2000/16000/TB,fps=fps=8000/2000:start_time=0:round=up,scale=320:-2" \
        -frames:v 8 -q:v 3 "$raw/small_%02d.jpg"
}
# CPU seconds (user + system of the children) of `assemblies` raw runs, ÷ cores. `times` runs
# in the subshell that ran them (redirected, not piped: a pipe would fork one with no children).
raw_cpu_per_core() {
    (
        for _ in $(seq "$assemblies"); do raw_assembly; done
        times >"$TRANSFLOW_DATA_DIR/times"
    )
    tail -1 "$TRANSFLOW_DATA_DIR/times" | awk -v cores="$cores" '{
        split($1, u, /[ms]/); split($2, s, /[ms]/);
        printf "%.3f\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) / cores }'
}

port=${PORT:-18714}
base="http://127.0.0.1:$port"
dev_log="$TRANSFLOW_DATA_DIR/dev.log"
$transflow dev --port "$port" >"$dev_log" 2>&1 &
dev_pid=$!
trap 'kill "$dev_pid" 2>/dev/null; wait "$dev_pid" 2>/dev/null || true' EXIT
for _ in $(seq 600); do curl -fs "$base/" >/dev/null 2>&1 && break; sleep 0.1; done
token=$($transflow token --user bench --ttl 2h)
size=$(stat -c %s "$small")
md5=$(md5sum "$small" | cut -d' ' -f1)
# Wall-clock seconds from the first create-upload to the last of `assemblies` completed.
dev_assemblies() {
    local start end ids=() id plan state nonce
    nonce=$(date +%s%N)
    start=$(date +%s.%N)
    for i in $(seq "$assemblies"); do
        # A field of its own per assembly: other fields are other work, so no dedupe.
        plan=$(curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"template_id\":\"video-thumbnails\",\"files\":[{\"name\":\"small.mp4\",\"size\":$size,\"mime\":\"video/mp4\",\"md5\":\"$md5\"}],\"fields\":{\"bench\":\"$nonce-$i\"}}" \
            "$base/api/create-upload")
        ids+=("$(jq -r .assembly_id <<<"$plan")")
        curl -fsS -X PUT -H 'content-type: video/mp4' --data-binary "@$small" "$(jq -r '.uploads[0].url' <<<"$plan")" >/dev/null
    done
    for id in "${ids[@]}"; do
        for _ in $(seq 6000); do
            state=$(curl -fsS -H "authorization: Bearer $token" "$base/api/status/$id" | jq -r '.error // .ok')
            case $state in
                ASSEMBLY_COMPLETED) break ;;
                ASSEMBLY_UPLOADING|ASSEMBLY_EXECUTING|null) sleep 0.2 ;;
                *) echo "bench: assembly $id ended with $state" >&2; kill "$$" ;;
            esac
        done
    done
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
baseline=() subject=()
for _ in $(seq "$runs"); do
    baseline+=("$(raw_cpu_per_core)")
    subject+=("$(dev_assemblies)")
done
row "$assemblies small assemblies on dev ÷ (raw ffmpeg CPU s ÷ $cores cores)" \
    "$(printf '%s\n' "${baseline[@]}" | median)" "$(printf '%s\n' "${subject[@]}" | median)" "≤ 1.3"
