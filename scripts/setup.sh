#!/usr/bin/env bash
# Installs what Transflow needs, only when it is missing: ffmpeg/ffprobe, bubblewrap (the
# optional ffmpeg sandbox), Chromium and its WebDriver (the page's browser test), moto (the AWS
# emulator of the offline AWS tests, in its own virtualenv under .tools/moto), the
# wasm32-wasip2 Rust target, Node.js with the TypeScript template kit's toolchain
# (componentize-js, jco, esbuild, TypeScript), and componentize-py for Python templates (in
# .tools/componentize-py), and the pinned static ffmpeg/ffprobe of the worker image (in
# .tools/ffmpeg-pinned). Safe to run any number of times.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

moto_dir="$root/.tools/moto"
moto_version="5.2.5"
moto_ok() { "$moto_dir/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; }
componentize_py_dir="$root/.tools/componentize-py"
componentize_py_version="0.25.1"
componentize_py_ok() {
    [ "$("$componentize_py_dir/bin/componentize-py" --version 2>/dev/null)" = "componentize-py $componentize_py_version" ]
}

need_apt=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need_apt+=(ffmpeg)
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v node >/dev/null && command -v npm >/dev/null || need_apt+=(nodejs npm)
if ! moto_ok || ! componentize_py_ok; then
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

if ! moto_ok; then
    echo "setup: installing moto[server]==$moto_version into $moto_dir" >&2
    rm -rf "$moto_dir"
    python3 -m venv "$moto_dir"
    "$moto_dir/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
fi
if ! componentize_py_ok; then
    echo "setup: installing componentize-py==$componentize_py_version into $componentize_py_dir" >&2
    rm -rf "$componentize_py_dir"
    python3 -m venv "$componentize_py_dir"
    "$componentize_py_dir/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$componentize_py_version"
fi

# The pinned ffmpeg/ffprobe the worker image ships (tools/ffmpeg.lock): the hostile-template
# tests run them beside Debian's ffmpeg.
bash "$root/scripts/install-ffmpeg.sh" "$root/.tools/ffmpeg-pinned"

# Pinned by template-sdk/typescript/package-lock.json; reinstalled only when that file changes.
# Install scripts stay off: every tool ships its native part as a platform package.
sdk_ts="$root/template-sdk/typescript"
lock_sum="$(sha256sum "$sdk_ts/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$sdk_ts/node_modules/.transflow-lock" 2>/dev/null)" != "$lock_sum" ]; then
    echo "setup: installing the TypeScript template toolchain into template-sdk/typescript/node_modules" >&2
    (cd "$sdk_ts" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" >"$sdk_ts/node_modules/.transflow-lock"
fi
