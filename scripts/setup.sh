#!/usr/bin/env bash
# Sets up a fresh Debian machine for vdisk: the Debian packages the tests, demo and benchmarks use
# (installed only when missing), then the npm dependencies, the native helper and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
# NBD test peers: nbdinfo and nbdcopy (libnbd-bin), nbdkit (the benchmark's reference server),
# fio (its nbd engine drives the server in tests and the benchmark).
command -v nbdinfo >/dev/null 2>&1 || need+=(libnbd-bin)
command -v nbdkit >/dev/null 2>&1 || need+=(nbdkit)
command -v fio >/dev/null 2>&1 || need+=(fio)
# openssl makes the certificates of the NBD TLS tests.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# fincore tells which pages of a file are in the page cache (the host-file readahead test).
command -v fincore >/dev/null 2>&1 || need+=(util-linux-extra)
# iSCSI test peers: libiscsi's tools (iscsi-test-cu for `npm run conformance`, iscsi-inq, iscsi-ls,
# iscsi-perf) and QEMU's libiscsi block driver (qemu-img and qemu-io with iscsi:// URLs).
# tgt (tgtd, the benchmark's reference target) is not installed here: `npm run bench -- iscsi`
# installs it when it runs, without letting the package start a tgtd on port 3260.
command -v iscsi-test-cu >/dev/null 2>&1 || need+=(libiscsi-bin)
compgen -G '/usr/lib/*/qemu/block-iscsi.so' >/dev/null || need+=(qemu-block-extra)
# A C compiler: `npm run conformance` builds a small LD_PRELOAD shim with cc; g++ and make build
# the native helper (node-gyp).
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)

if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm ci runs node-gyp (the native helper) and `prepare` (the TypeScript build, then the bundle
# that bin/vdisk.js runs: scripts/bundle.mjs, with esbuild from the devDependencies).
npm ci --no-audit --no-fund
