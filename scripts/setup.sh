#!/usr/bin/env bash
# Installs what Transflow needs, only when it is missing: ffmpeg/ffprobe, bubblewrap (the
# optional ffmpeg sandbox), Chromium and its WebDriver (the page's browser test), moto (the AWS
# emulator of the offline AWS tests, in its own virtualenv under .tools/moto) and the
# wasm32-wasip2 Rust target. Safe to run any number of times.
set -euo pipefail

need_apt=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need_apt+=(ffmpeg)
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
moto_dir="$(cd "$(dirname "$0")/.." && pwd)/.tools/moto"
moto_version="5.2.5"
if ! "$moto_dir/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
    command -v python3 >/dev/null || need_apt+=(python3)
    python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${need_apt[*]} with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo is missing; install Rust from https://rustup.rs and run this again" >&2
    exit 1
fi
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 Rust target" >&2
    rustup target add wasm32-wasip2
fi

if ! "$moto_dir/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
    echo "setup: installing moto[server]==$moto_version into $moto_dir" >&2
    rm -rf "$moto_dir"
    python3 -m venv "$moto_dir"
    "$moto_dir/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
fi
