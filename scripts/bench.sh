#!/usr/bin/env bash
# Whole-run overhead: `transflow run` wall time ÷ the same ffmpeg commands run directly, on a 10 s
# 720p clip, for video-thumbnails, its TypeScript twin video-thumbnails-ts (and the ratio between
# the two) and video-encode (defaults), then the engine figures (Rust and TypeScript), the
# embedded stack figures (status API throughput, upload hashing) and the AWS worker figures
# against moto (worker start, template ready, hot-swap latency).
# Runs alternate and the median of RUNS is reported. PROFILE=debug skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
profile=${PROFILE:-release}
runs=${RUNS:-5}
# transflow-confine is the exec helper every ffmpeg and ffprobe starts through.
build=(cargo build --bin transflow --bin transflow-confine)
if [ "$profile" = release ]; then "${build[@]}" --release; else "${build[@]}"; fi
transflow="target/$profile/transflow"
export TRANSFLOW_DATA_DIR="${TMPDIR:-/tmp}/transflow-bench"
$transflow bake >/dev/null 2>&1

clip="$TRANSFLOW_DATA_DIR/clip-720p.mp4"
[ -s "$clip" ] || ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10 \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$clip"
raw="$TRANSFLOW_DATA_DIR/raw"

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The commands each template runs (see templates/*/src/lib.rs), plus the ffprobe of the upload.
raw_thumbnails() {
    rm -rf "$raw" && mkdir -p "$raw"
    ffprobe -v error -print_format json -show_format -show_streams "$clip"
    ffmpeg -nostdin -y -loglevel error -ss 0.625000 -i "$clip" -vf fps=1/1.250000,scale=320:-2 -frames:v 8 -q:v 3 "$raw/clip_%02d.jpg"
}
raw_encode() {
    rm -rf "$raw" && mkdir -p "$raw"
    ffprobe -v error -print_format json -show_format -show_streams "$clip"
    ffmpeg -nostdin -y -loglevel error -i "$clip" -map 0:v:0 -vf scale=-2:720 -c:v libx264 -preset veryfast -crf 23 \
        -pix_fmt yuv420p -map 0:a:0 -c:a aac -b:a 128k -movflags +faststart "$raw/clip.mp4"
}

declare -A median_of
for template in video-thumbnails video-thumbnails-ts video-encode; do
    direct=() wrapped=()
    fn="raw_${template#video-}"
    fn="${fn%-ts}"
    for _ in $(seq "$runs"); do
        direct+=("$(seconds "$fn")")
        rm -rf "$TRANSFLOW_DATA_DIR/outputs"
        wrapped+=("$(seconds "$transflow" run --template "$template" "$clip")")
    done
    d=$(printf '%s\n' "${direct[@]}" | median)
    w=$(printf '%s\n' "${wrapped[@]}" | median)
    median_of[$template]=$w
    printf '%-19s ffmpeg %.3f s   transflow run %.3f s   ratio %.3f\n' "$template" "$d" "$w" "$(echo "$w / $d" | bc -l)"
done
printf 'video-thumbnails-ts ÷ video-thumbnails: %.3f\n' \
    "$(echo "${median_of[video-thumbnails-ts]} / ${median_of[video-thumbnails]}" | bc -l)"

cargo bench -p transflow-tests --bench engine --bench embedded
cargo bench -p transflow-cli --bench aws
