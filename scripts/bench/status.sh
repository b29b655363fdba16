#!/usr/bin/env bash
# The status route on the real binary: wrk (2 threads, 32 connections, 10 s) on
# `GET /api/status/{id}` of a `transflow dev` on 127.0.0.1, against the static page `GET /` of
# the same server (the baseline: what HTTP alone costs there), alternated RUNS times. The
# assembly is a real one: an image-resize run made through the API, so the status has its
# upload, its result and their metadata. Prints two rows (req/s and p99, medians).
#
# Builds nothing: run `cargo build --release --bin transflow --bin transflow-confine` first
# (scripts/bench.sh does, and bakes the templates). PROFILE=debug measures target/debug instead;
# TRANSFLOW_BIN=path measures another build (transflow-confine must lie beside it).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh

transflow=${TRANSFLOW_BIN:-$PWD/target/${PROFILE:-release}/transflow}
[ -x "$transflow" ] || { echo "bench: $transflow is missing; build it first" >&2; exit 2; }
if ! command -v wrk >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "bench: installing wrk with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi

data=$(mktemp -d "${TMPDIR:-/tmp}/transflow-status-bench.XXXXXX")
server=""
stop() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$data"
}
trap stop EXIT
# Nothing from a transflow.toml in the working directory: defaults, this data directory.
export TRANSFLOW_CONFIG="$data/transflow.toml" TRANSFLOW_DATA_DIR="$data"

# The image-resize component as the last bake built it; baked now only if it never was.
component=target/wasm32-wasip2/release/image_resize.wasm
if [ -s "$component" ]; then
    "$transflow" templates publish "$component" >"$data/publish.log" 2>&1
else
    "$transflow" bake image-resize >"$data/publish.log" 2>&1
fi || { cat "$data/publish.log" >&2; exit 1; }
"$transflow" dev --port 0 >"$data/dev.out" 2>"$data/dev.err" &
server=$!
base="" token=""
for _ in $(seq 300); do
    base=$(sed -n 's/^Transflow dev server on \(http:[^ ]*\)$/\1/p' "$data/dev.out")
    token=$(sed -n 's/^  token: *//p' "$data/dev.out")
    [ -n "$base" ] && [ -n "$token" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$data/dev.err" >&2; exit 1; }
    sleep 0.1
done
[ -n "$base" ] && [ -n "$token" ] || { echo "bench: transflow dev did not start" >&2; exit 1; }
case "$base" in http://127.0.0.1:*) ;; *) echo "bench: $base is not on loopback" >&2; exit 1 ;; esac
auth="Authorization: Bearer $token"

# One small image through image-resize, via create-upload, the signed upload and polling.
image="$data/card.png"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=640x480 -frames:v 1 "$image"
request=$(jq -n --arg size "$(stat -c %s "$image")" --arg md5 "$(md5sum "$image" | cut -d' ' -f1)" \
    '{template_id: "image-resize", fields: {width: "320"},
      files: [{name: "card.png", size: ($size | tonumber), mime: "image/png", md5: $md5}]}')
plan=$(curl -sS --fail-with-body -H "$auth" -H 'Content-Type: application/json' -d "$request" \
    "$base/api/create-upload")
id=$(jq -r .assembly_id <<<"$plan")
headers=()
while IFS= read -r header; do headers+=(-H "$header"); done \
    < <(jq -r '.uploads[0].headers | to_entries[] | "\(.key): \(.value)"' <<<"$plan")
curl -sS --fail-with-body -X "$(jq -r '.uploads[0].method' <<<"$plan")" "${headers[@]}" \
    --data-binary "@$image" "$(jq -r '.uploads[0].url' <<<"$plan")" >/dev/null
state=""
for _ in $(seq 600); do
    state=$(curl -sS -H "$auth" "$base/api/status/$id" | jq -r '.error // .ok')
    [ "$state" = ASSEMBLY_UPLOADING ] || [ "$state" = ASSEMBLY_EXECUTING ] || break
    sleep 0.1
done
[ "$state" = ASSEMBLY_COMPLETED ] || { echo "bench: the assembly ended as $state" >&2; exit 1; }

# `wrk_run PATH`: one 10 s run; prints req/s and p99 in milliseconds.
wrk_run() {
    wrk -t2 -c32 -d10s --latency -H "$auth" "$base$1" | awk '
        /^Requests\/sec:/ { rps = $2 }
        $1 == "99%" {
            v = $2; unit = v; sub(/^[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
            p99 = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v
        }
        END { if (rps == "" || p99 == "") exit 1; printf "%s %s\n", rps, p99 }'
}
# A few requests first, so neither side pays for a cold cache.
wrk -t1 -c4 -d1s -H "$auth" "$base/" >/dev/null
wrk -t1 -c4 -d1s -H "$auth" "$base/api/status/$id" >/dev/null

static_rps=() static_p99=() status_rps=() status_p99=()
for _ in $(seq "$runs"); do
    read -r rps p99 < <(wrk_run /)
    static_rps+=("$rps") static_p99+=("$p99")
    read -r rps p99 < <(wrk_run "/api/status/$id")
    status_rps+=("$rps") status_p99+=("$p99")
done
m() { printf '%s\n' "$@" | median; }
row "status route req/s (wrk 2 threads, 32 conns, 10 s; baseline \`GET /\`)" \
    "$(m "${static_rps[@]}")" "$(m "${status_rps[@]}")" "≥ 20,000 req/s"
row "status route p99 ms (same runs; baseline \`GET /\`)" \
    "$(m "${static_p99[@]}")" "$(m "${status_p99[@]}")" "≤ 5 ms"
