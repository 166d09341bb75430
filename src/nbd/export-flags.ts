/**
 * Transmission flags and block size constraints of an export, derived from the device's
 * capabilities and the export's options only (DESIGN.md: NBD export flags and SCSI VPD pages come
 * from the same capabilities, so the two protocols never disagree about a disk).
 *
 * - NBD_FLAG_READ_ONLY: the export or the device is read-only; writes, trims and zeroes then fail
 *   with NBD_EPERM.
 * - NBD_FLAG_SEND_FLUSH: writable and a flush does real work (not cache=unsafe).
 * - NBD_FLAG_SEND_FUA: writable and the device honours FUA.
 * - NBD_FLAG_ROTATIONAL: the device says so.
 * - NBD_FLAG_SEND_TRIM: writable, the device can discard, and the export's discard mode is unmap
 *   (qemu's discard=ignore hides discard from the client).
 * - NBD_FLAG_SEND_WRITE_ZEROES and NBD_FLAG_SEND_FAST_ZERO: writable. A fast zero that the device
 *   cannot do quickly fails at once with NBD_ENOTSUP, which the spec counts as fast.
 * - NBD_FLAG_SEND_DF: structured replies were negotiated ("MUST leave this flag clear if
 *   structured replies have not been negotiated").
 * - NBD_FLAG_CAN_MULTI_CONN: always. Every connection to an export shares the export's one
 *   BlockDevice, and a flush (or FUA) on it makes durable every write completed on any
 *   connection before it, which is exactly the flag's promise.
 * - NBD_FLAG_SEND_CACHE: always (NBD_CMD_CACHE is a validated no-op).
 */
import type { BlockCaps } from '../block/index.js';
import { NBD_FLAG } from './constants.js';

export type DiscardMode = 'ignore' | 'unmap';

export interface ExportPolicy {
  /** Export read-only even when the device is writable. */
  readOnly: boolean;
  discard: DiscardMode;
}

/** proto.md "Block size constraints": clients should not send more than 32 MiB per request. */
export const NBD_MAX_BLOCK_SIZE = 32 * 1024 * 1024;

export function isWritable(caps: BlockCaps, policy: ExportPolicy): boolean {
  return !policy.readOnly && !caps.readOnly;
}

export function transmissionFlags(caps: BlockCaps, policy: ExportPolicy, structuredReplies: boolean): number {
  const writable = isWritable(caps, policy);
  let f = NBD_FLAG.HAS_FLAGS | NBD_FLAG.CAN_MULTI_CONN | NBD_FLAG.SEND_CACHE;
  if (!writable) f |= NBD_FLAG.READ_ONLY;
  if (writable && caps.canFlush) f |= NBD_FLAG.SEND_FLUSH;
  if (writable && caps.canFua) f |= NBD_FLAG.SEND_FUA;
  if (caps.rotational) f |= NBD_FLAG.ROTATIONAL;
  if (writable && caps.canDiscard && policy.discard === 'unmap') f |= NBD_FLAG.SEND_TRIM;
  if (writable) f |= NBD_FLAG.SEND_WRITE_ZEROES | NBD_FLAG.SEND_FAST_ZERO;
  if (structuredReplies) f |= NBD_FLAG.SEND_DF;
  return f;
}

export interface BlockSizes {
  minimum: number;
  preferred: number;
  maximum: number;
}

/**
 * NBD_INFO_BLOCK_SIZE from the device: the minimum is the device's alignment (a power of two,
 * at most 64 KiB); the preferred size is a power of two of at least max(minimum, 512) and at
 * most the maximum; the maximum is the device's largest transfer, capped at 32 MiB and rounded
 * down to a multiple of the minimum.
 */
export function blockSizes(caps: BlockCaps): BlockSizes {
  const minimum = Math.min(caps.minBlockSize, 64 * 1024);
  const maxRaw = Math.min(caps.maxTransfer, NBD_MAX_BLOCK_SIZE);
  const maximum = maxRaw - (maxRaw % minimum);
  let preferred = Math.max(caps.preferredBlockSize, minimum, 512);
  preferred = 2 ** Math.ceil(Math.log2(preferred));
  while (preferred > maximum && preferred > 512) preferred /= 2;
  return { minimum, preferred, maximum };
}
