#!/usr/bin/env bash
# The main job: bake the built-in templates (Rust and TypeScript), generate a 10 s 720p test clip
# with ffmpeg, and run `video-encode`, `video-thumbnails` and its TypeScript twin
# `video-thumbnails-ts` on it with embedded defaults, printing each status JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# transflow-confine is the exec helper every ffmpeg and ffprobe starts through.
cargo build --release --bin transflow --bin transflow-confine
transflow=target/release/transflow

$transflow bake

mkdir -p .transflow/media
clip=.transflow/media/demo-720p.mp4
if [ ! -s "$clip" ]; then
    ffmpeg -hide_banner -loglevel error -y \
        -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10 \
        -f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 \
        -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$clip"
fi

echo "== video-encode" >&2
$transflow run --template video-encode --field height=480 "$clip"
echo "== video-thumbnails" >&2
$transflow run --template video-thumbnails --field count=6 --field width=320 "$clip"
echo "== video-thumbnails-ts (the same template in TypeScript)" >&2
$transflow run --template video-thumbnails-ts --field count=6 --field width=320 "$clip"
