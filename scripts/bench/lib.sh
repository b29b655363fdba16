# Shared by every scripts/bench/*.sh: alternated pairs, medians and one table row per figure.
# A figure is always a ratio of a subject against a baseline measured side by side in the same
# run, so machine speed and load cancel out as far as they can.

# Pairs per figure; at least 5 so the median means something.
runs=${RUNS:-5}
(( runs >= 5 )) || { echo "bench: RUNS must be at least 5 (got $runs)" >&2; exit 2; }

# Wall-clock seconds `"$@"` takes, its output discarded.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One row of the results table: figure, baseline, subject, ratio subject ÷ baseline, goal.
row() {
    local figure=$1 baseline=$2 subject=$3 goal=$4
    printf '| %s | %s | %s | %.3f | %s |\n' "$figure" "$baseline" "$subject" \
        "$(echo "$subject / $baseline" | bc -l)" "$goal"
}

# `pairs FIGURE GOAL BASELINE_FN SUBJECT_FN`: runs baseline and subject alternately $runs times
# and prints the row of their median wall-clock seconds.
pairs() {
    local figure=$1 goal=$2 baseline_fn=$3 subject_fn=$4 baseline=() subject=()
    for _ in $(seq "$runs"); do
        baseline+=("$(seconds "$baseline_fn")")
        subject+=("$(seconds "$subject_fn")")
    done
    row "$figure" "$(printf '%s\n' "${baseline[@]}" | median)" \
        "$(printf '%s\n' "${subject[@]}" | median)" "$goal"
}

# Builds transflow and its confine helper (release, or debug with PROFILE=debug) and prints the
# binary's path, so a bench script run on its own needs nothing built beforehand.
build_transflow() {
    local profile=${PROFILE:-release} build=(cargo build --bin transflow --bin transflow-confine)
    if [ "$profile" = release ]; then "${build[@]}" --release >&2; else "${build[@]}" >&2; fi
    echo "${CARGO_TARGET_DIR:-$PWD/target}/$profile/transflow"
}

# Makes, under directory $1, a working directory whose `transflow.toml` turns bubblewrap off (the
# tools confined by the helper alone, as on AWS Lambda: `transflow run` reads the working
# directory's config) and prints its path.
without_bubblewrap_dir() {
    local dir="$1/no-bubblewrap"
    mkdir -p "$dir"
    printf '[tools]\nbubblewrap = false\n' >"$dir/transflow.toml"
    echo "$dir"
}
