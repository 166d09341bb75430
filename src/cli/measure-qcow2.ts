/**
 * How big a qcow2 file gets, computed exactly as qemu does for `qemu-img measure` (block/qcow2.c:
 * qcow2_calc_prealloc_size, qcow2_refcount_metadata_size, qcow2_measure), so that our numbers
 * are qemu-img's numbers for every size and option set.
 *
 * A fully allocated image is: the header cluster, the L2 tables that map every cluster (rounded
 * up to whole tables), the L1 table (rounded up to whole clusters), the data clusters, and the
 * refcount table and blocks that count all of those and themselves. The refcount part is found
 * by iterating to the fixed point where adding blocks and table clusters needs no more of them.
 * The "required" size removes the data clusters that do not need to be written.
 */
import { alignUp } from '../util/index.js';

const L1E_SIZE = 8;
/** Bytes per L2 entry: 8, or 16 with extended L2 entries (subcluster bitmaps). */
const l2eSize = (extendedL2: boolean): number => (extendedL2 ? 16 : 8);
const REFTABLE_ENTRY_SIZE = 8;
/** QCOW_MAX_L1_SIZE: qemu refuses L1 tables above 32 MiB. */
export const QCOW_MAX_L1_SIZE = 32 * 1024 * 1024;

/** qcow2_refcount_metadata_size (without generous_increase): bytes of refcount table + blocks. */
export function refcountMetadataSize(clusters: number, clusterSize: number, refcountBits: number): number {
  const blocksPerTableCluster = clusterSize / REFTABLE_ENTRY_SIZE;
  const refcountsPerBlock = (clusterSize * 8) / refcountBits;
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last: number;
  do {
    last = n;
    blocks = Math.ceil((clusters + table + blocks) / refcountsPerBlock);
    table = Math.ceil(blocks / blocksPerTableCluster);
    n = clusters + blocks + table;
  } while (n !== last);
  return (blocks + table) * clusterSize;
}

/** qcow2_calc_prealloc_size: the file size of a fully allocated image of `totalSize` bytes. */
export function fullyAllocatedSize(
  totalSize: number,
  clusterSize: number,
  refcountBits: number,
  extendedL2 = false,
): number {
  const alignedTotal = alignUp(totalSize, clusterSize);
  const l2e = l2eSize(extendedL2);
  let meta = clusterSize; // the header cluster
  const nl2e = alignUp(alignedTotal / clusterSize, clusterSize / l2e);
  meta += nl2e * l2e;
  const nl1e = alignUp((nl2e * l2e) / clusterSize, clusterSize / L1E_SIZE);
  meta += nl1e * L1E_SIZE;
  meta += refcountMetadataSize((meta + alignedTotal) / clusterSize, clusterSize, refcountBits);
  return meta + alignedTotal;
}

/** True when qemu would refuse an image of this size for this cluster size (L1 table limit). */
export function tooLargeForClusterSize(
  virtualSize: number,
  clusterSize: number,
  extendedL2 = false,
): boolean {
  const l2Tables = Math.ceil(virtualSize / clusterSize / (clusterSize / l2eSize(extendedL2)));
  return l2Tables * L1E_SIZE > QCOW_MAX_L1_SIZE;
}

export interface Qcow2Measure {
  required: number;
  fullyAllocated: number;
}

/**
 * qcow2_measure's arithmetic. `dataBytes` is what must be written: the allocated data clusters
 * of the input (or the whole virtual size with a backing file or full/falloc preallocation).
 */
export function measureQcow2(
  virtualSize: number,
  clusterSize: number,
  refcountBits: number,
  dataBytes: number,
  extendedL2 = false,
): Qcow2Measure {
  const size = alignUp(virtualSize, clusterSize);
  const fullyAllocated = fullyAllocatedSize(size, clusterSize, refcountBits, extendedL2);
  return { fullyAllocated, required: fullyAllocated - size + dataBytes };
}
