#!/usr/bin/env bash
# Steps as a graph (issue 14):
#  1. a template with 2 independent steps ÷ the same steps run one after another: `video-encode`
#     with `webm=true` (an H.264 and a VP9 encode of the same upload) under `transflow run`,
#     the baseline with `--cpu-budget 1` (one ffmpeg run, so one step, at a time), the subject
#     with the default budget (one run per core); and the floor of that ratio, the sequential
#     run's CPU time ÷ cores ÷ its wall time;
#  2. 100 small assemblies (2 s 320×240, `video-thumbnails`) through `transflow dev`'s API,
#     from the first create-upload to the last completed status, ÷ (the CPU time the same ffprobe
#     + ffmpeg commands take run directly, ÷ cores).
# Pairs alternate; medians of RUNS (≥ 5). PROFILE=debug skips the release build. Prints
# markdown rows `| figure | baseline | subject | ratio | goal |`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib.sh
transflow=$(build_transflow)
export TRANSFLOW_DATA_DIR="${TMPDIR:-/tmp}/transflow-bench-graph"
mkdir -p "$TRANSFLOW_DATA_DIR"
$transflow bake video-encode video-thumbnails >/dev/null 2>&1
cores=$(nproc)

# CPU seconds (user + system) of the children of the subshell whose `times` output is in file
# $1. `times` runs in the subshell that ran them (redirected, not piped: a pipe would fork one
# with no children).
cpu_seconds() {
    tail -1 "$1" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/);
        printf "%.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}

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
# The floor of that ratio: side by side can at best keep every core busy, so it takes at least
# the sequential run's CPU time ÷ cores. Both encoders are multi-threaded, so this floor shows
# how much of the machine one step at a time already used. Measured without bubblewrap: it
# exits without waiting for its children, so their CPU time never reaches `times`.
no_bubblewrap=$(without_bubblewrap_dir "$TRANSFLOW_DATA_DIR")
walls=() cpus=()
for _ in $(seq "$runs"); do
    start=$(date +%s.%N)
    (cd "$no_bubblewrap" && sequential >/dev/null 2>&1; times >"$TRANSFLOW_DATA_DIR/times")
    walls+=("$(echo "$(date +%s.%N) - $start" | bc)")
    cpus+=("$(echo "$(cpu_seconds "$TRANSFLOW_DATA_DIR/times") / $cores" | bc -l)")
done
row "the same, one after another: CPU s ÷ $cores cores ÷ wall s (the floor side by side could reach)" \
    "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" "—"

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
# CPU seconds (user + system of the children) of `assemblies` raw runs, ÷ cores.
raw_cpu_per_core() {
    (
        for _ in $(seq "$assemblies"); do raw_assembly; done
        times >"$TRANSFLOW_DATA_DIR/times"
    )
    echo "$(cpu_seconds "$TRANSFLOW_DATA_DIR/times") / $cores" | bc -l
}

port=${PORT:-18714}
base="http://127.0.0.1:$port"
dev_log="$TRANSFLOW_DATA_DIR/dev.log"
$transflow dev --port "$port" >"$dev_log" 2>&1 &
dev_pid=$!
trap 'kill "$dev_pid" 2>/dev/null; wait "$dev_pid" 2>/dev/null || true' EXIT
for _ in $(seq 600); do curl -fs "$base/" >/dev/null 2>&1 && break; sleep 0.1; done
token=$($transflow token --user bench --ttl 2h)
# Wall-clock seconds from the first create-upload to the last of `assemblies` completed. One
# Python client on keep-alive connections, so the bench charges the machine little more than
# a real client would (curl and jq per request cost more CPU than a job's own host work).
dev_assemblies() {
    python3 - "$port" "$token" "$small" "$assemblies" <<'PY'
import hashlib, http.client, json, sys, time
port, token, small, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
body = open(small, "rb").read()
md5 = hashlib.md5(body).hexdigest()
api = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
def call(method, path, payload=None, headers=None):
    api.request(method, path, body=payload, headers={"authorization": f"Bearer {token}", **(headers or {})})
    response = api.getresponse()
    data = response.read()
    if response.status >= 400:
        sys.exit(f"bench: {method} {path}: {response.status} {data[:200]!r}")
    return data
nonce = time.time_ns()
start = time.monotonic()
ids = []
for i in range(count):
    # A field of its own per assembly: other fields are other work, so no dedupe.
    plan = json.loads(call("POST", "/api/create-upload", json.dumps({
        "template_id": "video-thumbnails",
        "files": [{"name": "small.mp4", "size": len(body), "mime": "video/mp4", "md5": md5}],
        "fields": {"bench": f"{nonce}-{i}"},
    }), {"content-type": "application/json"}))
    ids.append(plan["assembly_id"])
    target = plan["uploads"][0]["url"].split(f":{port}", 1)[1]
    call("PUT", target, body, {"content-type": "video/mp4"})
pending = set(ids)
for _ in range(6000):
    for id in sorted(pending):
        status = json.loads(call("GET", f"/api/status/{id}"))
        state = status.get("error") or status.get("ok")
        if state == "ASSEMBLY_COMPLETED":
            pending.discard(id)
        elif state not in ("ASSEMBLY_UPLOADING", "ASSEMBLY_EXECUTING", None):
            sys.exit(f"bench: assembly {id} ended with {state}")
    if not pending:
        break
    time.sleep(0.1)
if pending:
    sys.exit(f"bench: {len(pending)} assemblies did not complete")
print(f"{time.monotonic() - start:.3f}")
PY
}
baseline=() subject=()
for _ in $(seq "$runs"); do
    baseline+=("$(raw_cpu_per_core)")
    subject+=("$(dev_assemblies)")
done
row "$assemblies small assemblies on dev ÷ (raw ffmpeg CPU s ÷ $cores cores)" \
    "$(printf '%s\n' "${baseline[@]}" | median)" "$(printf '%s\n' "${subject[@]}" | median)" "≤ 1.3"
