#!/usr/bin/env bash
# The main job until `vdisk serve` (with its data directory and SQLite state) exists: serve one
# demo disk to VMs, over iSCSI and NBD at once from one owner, until Ctrl-C.
#
# The disk is a 10 GiB thin qcow2 image in $VDISK_DEMO_DIR (default ./vdisk-data), created on the
# first run and kept. Persistent-reservation state lives beside it. Ports: iSCSI 3260, NBD 10809
# (VDISK_DEMO_ISCSI and VDISK_DEMO_NBD change them). Try, from another shell:
#
#     iscsi-inq iscsi://127.0.0.1/iqn.2026-11.io.vdisk:demo/0
#     qemu-img info iscsi://127.0.0.1/iqn.2026-11.io.vdisk:demo/0
#     qemu-io -f raw -c 'write -P 0xab 0 1M' nbd://127.0.0.1:10809/demo.qcow2
#     qemu-io -f raw -c 'read -P 0xab 0 1M' iscsi://127.0.0.1/iqn.2026-11.io.vdisk:demo/0
set -euo pipefail
cd "$(dirname "$0")/.."
vdisk_js="$PWD/bin/vdisk.js"
data=${VDISK_DEMO_DIR:-$PWD/vdisk-data}
mkdir -p "$data"
disk="$data/demo.qcow2"
if [[ ! -e $disk ]]; then
  node "$vdisk_js" img create -f qcow2 "$disk" 10G
fi
export VDISK_STATE_DIR="$data/state"
echo "serving $disk (stop with Ctrl-C); its URLs:"
exec node "$vdisk_js" iscsi serve \
  --target iqn.2026-11.io.vdisk:demo --alias "vdisk demo disk" \
  --portal "0.0.0.0:${VDISK_DEMO_ISCSI:-3260}" \
  --lun "0=$disk,discard=on" \
  --nbd "0.0.0.0:${VDISK_DEMO_NBD:-10809}"
