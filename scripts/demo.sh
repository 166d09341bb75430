#!/usr/bin/env bash
# The main job until `vdisk serve` exists: a short tour of `vdisk img` and `vdisk io`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
v() { echo "\$ vdisk $*"; node bin/vdisk.js "$@"; }
v --help
