#!/usr/bin/env bash
# The main job until `vdisk serve` exists: a short tour of `vdisk img` and `vdisk io` on a qcow2
# image and an overlay on top of it, with qemu-img reading the result to show it is compatible.
set -euo pipefail
cd "$(dirname "$0")/.."
vdisk_js="$PWD/bin/vdisk.js"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
v() {
  local shown=() a
  for a in "$@"; do
    if [[ $a == *" "* ]]; then shown+=("'$a'"); else shown+=("$a"); fi
  done
  echo "\$ vdisk ${shown[*]}"
  node "$vdisk_js" "$@"
  echo
}

v img create -f qcow2 disk.qcow2 1G
v io -c 'write -P 0xab 0 64k' -c 'write -z 1M 64k' -c 'read -P 0xab 0 64k' disk.qcow2
v img info disk.qcow2
v img map --output=json disk.qcow2
v img check disk.qcow2
v img create -f qcow2 -b disk.qcow2 -F qcow2 overlay.qcow2
v io -c 'write -P 0x5a 32k 64k' -c map overlay.qcow2
v img info --backing-chain overlay.qcow2
v img map overlay.qcow2
v img compare disk.qcow2 overlay.qcow2 || true
v img snapshot -c before-resize overlay.qcow2
v img resize overlay.qcow2 +1G
v img snapshot -l overlay.qcow2
v img convert -c -O qcow2 -o compression_type=zstd overlay.qcow2 compressed.qcow2
v img info compressed.qcow2
v img convert -O vmdk -o subformat=streamOptimized compressed.qcow2 export.vmdk
v img compare compressed.qcow2 export.vmdk

if command -v qemu-img >/dev/null 2>&1; then
  echo "\$ qemu-img check overlay.qcow2   # QEMU reads what vdisk wrote"
  qemu-img check overlay.qcow2
  echo "\$ qemu-img compare overlay.qcow2 export.vmdk"
  qemu-img compare overlay.qcow2 export.vmdk
fi
