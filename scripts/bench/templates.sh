#!/usr/bin/env bash
# Per-job overhead (issue 14): `transflow run` of a built-in template ÷ the same ffprobe +
# ffmpeg commands run directly, on two 10 s 720p clips (testsrc2 with audio, the clip of the
# earlier figures, and plain testsrc), for video-thumbnails, its TypeScript twin and
# video-encode; then the tool processes one video-thumbnails job starts, counted with perf
# (the raw commands start 2: the upload's ffprobe and the ffmpeg run).
# Needs TRANSFLOW (the binary) and TRANSFLOW_DATA_DIR with the templates baked, as
# scripts/bench.sh sets them up; TEMPLATES narrows the list.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
transflow=${TRANSFLOW:?set TRANSFLOW to the transflow binary (scripts/bench.sh does)}
data=${TRANSFLOW_DATA_DIR:?set TRANSFLOW_DATA_DIR (scripts/bench.sh does)}
raw="$data/raw"

# `clip NAME GRAPH`: a 10 s 720p H.264 clip from the lavfi video GRAPH with a 440 Hz AAC tone.
clip() {
    local path="$data/$1.mp4"
    [ -s "$path" ] || ffmpeg -hide_banner -loglevel error -y \
        -f lavfi -i "$2=size=1280x720:rate=30:duration=10" \
        -f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 \
        -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$path"
    echo "$path"
}

# The commands each template runs (see templates/*/src/lib.rs), plus the ffprobe of the upload.
raw_thumbnails() {
    rm -rf "$raw" && mkdir -p "$raw"
    ffprobe -v error -print_format json -show_format -show_streams "$input"
    ffmpeg -nostdin -y -loglevel error -ss 0.625000 -i "$input" -vf fps=1/1.250000,scale=320:-2 \
        -frames:v 8 -q:v 3 "$raw/clip_%02d.jpg"
}
raw_encode() {
    rm -rf "$raw" && mkdir -p "$raw"
    ffprobe -v error -print_format json -show_format -show_streams "$input"
    ffmpeg -nostdin -y -loglevel error -i "$input" -map 0:v:0 -vf scale=-2:720 -c:v libx264 \
        -preset veryfast -crf 23 -pix_fmt yuv420p -map 0:a:0 -c:a aac -b:a 128k \
        -movflags +faststart "$raw/clip.mp4"
}
run_template() { rm -rf "$data/outputs"; "$transflow" run --template "$template" "$input"; }
# The same with the tools confined by the helper alone (landlock + seccomp + rlimits), without
# bubblewrap, as on AWS Lambda, where user namespaces do not exist.
no_bubblewrap=$(without_bubblewrap_dir "$data")
run_template_without_bubblewrap() { (cd "$no_bubblewrap" && run_template); }

for input in "$(clip testsrc2 testsrc2)" "$(clip testsrc testsrc)"; do
    name=$(basename "$input" .mp4)
    for template in ${TEMPLATES:-video-thumbnails video-thumbnails-ts video-encode}; do
        goal="≤ 1.03"
        [ "$template" = video-encode ] && goal="≤ 1.02"
        baseline=raw_${template#video-}
        pairs "\`transflow run\` ÷ raw, $template, $name" "$goal" "${baseline%-ts}" run_template
        if [ "$template" = video-thumbnails ]; then
            pairs "\`transflow run\` without bubblewrap (as on Lambda) ÷ raw, $template, $name" \
                "$goal" "${baseline%-ts}" run_template_without_bubblewrap
        fi
    done
done

# Processes that became ffmpeg or ffprobe, in everything `transflow run` started (bubblewrap
# and transflow-confine exec the tool in the end): `perf trace` names each process after a
# successful execve, so concurrent processes need no pairing of interrupted strace lines.
if ! command -v perf >/dev/null; then
    echo "bench: no tool-process count: perf is missing (Debian: apt-get install linux-perf)" >&2
    exit 0
fi
input="$data/testsrc2.mp4" template=video-thumbnails
trace="$data/execve.trace"
rm -rf "$data/outputs"
perf trace -e execve -o "$trace" -- "$transflow" run --template "$template" "$input" >/dev/null 2>&1
started=$(grep -oE ' (ffmpeg|ffprobe)/[0-9]+ ' "$trace" | sort -u | wc -l)
printf '| tool processes per video-thumbnails job | 2 | %s | %.3f | 2 |\n' "$started" \
    "$(echo "$started / 2" | bc -l)"
