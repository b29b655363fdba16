#!/usr/bin/env python3
"""transflow-template-build for Python: makes a ``transflow:template`` component of a Python
template with componentize-py, against the ``wit/`` of this checkout.

    python build.py DIR [--out FILE]

DIR holds the template's ``pyproject.toml``; ``[tool.transflow] entry`` names the module that
defines ``Pipeline`` (default ``app``). The component goes to FILE (default
``DIR/dist/template.wasm``).

componentize-py snapshots a live interpreter, so two builds of one source differ byte for byte.
A fingerprint of everything that goes in (the template's and the SDK's Python files, the WIT,
componentize-py's version) is kept beside the component, and an unchanged template is not
rebuilt: its version (the sha256 of the component) stays the same, as a Rust template's does.
"""

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

SDK = Path(__file__).resolve().parent
WIT = SDK.parent.parent / "wit"


def main() -> int:
    parser = argparse.ArgumentParser(description="Build a Python Transflow template.")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    template = args.dir.resolve()
    out = (args.out or template / "dist" / "template.wasm").resolve()
    try:
        project = tomllib.loads((template / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        return fail(f"cannot read {template / 'pyproject.toml'}: {error}")
    entry = project.get("tool", {}).get("transflow", {}).get("entry", "app")
    if not (template / f"{entry}.py").is_file():
        return fail(f"the entry module {template / (entry + '.py')} does not exist\n"
                    "hint: set `entry` in [tool.transflow] of pyproject.toml")
    componentize = shutil.which("componentize-py", path=str(Path(sys.executable).parent)) or shutil.which(
        "componentize-py"
    )
    if componentize is None:
        return fail("componentize-py is not installed\nhint: run `bash scripts/setup.sh`")

    version = subprocess.run([componentize, "--version"], capture_output=True, text=True).stdout.strip()
    fingerprint = fingerprint_of(template, out, version)
    stamp = out.with_name(out.name + ".inputs-sha256")
    if out.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        print(f"{out} is up to date", file=sys.stderr)
        return 0
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [componentize, "-d", str(WIT), "-w", "template", "componentize",
               "-p", str(template), "-p", str(SDK), entry, "-o", str(out)]
    built = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    if built.returncode != 0:
        return fail(f"componentize-py exited with {built.returncode}")
    stamp.write_text(fingerprint)
    size = out.stat().st_size / 1048576
    print(f"built {out} ({size:.1f} MiB in {time.monotonic() - started:.1f} s)", file=sys.stderr)
    return 0


def fingerprint_of(template: Path, out: Path, componentize_version: str) -> str:
    """sha256 of every input of the build, by relative path."""
    digest = hashlib.sha256()
    sources = [("template", template, "*.py"), ("sdk", SDK / "transflow_sdk", "*.py"), ("wit", WIT, "*.wit")]
    for label, root, pattern in sources:
        for file in sorted(root.rglob(pattern)):
            if out.parent in file.parents:
                continue
            digest.update(f"\0{label}/{file.relative_to(root)}\0".encode())
            digest.update(file.read_bytes())
    digest.update((template / "pyproject.toml").read_bytes())
    digest.update(f"\0{componentize_version}".encode())
    return digest.hexdigest()


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
