/**
 * Transfer and provisioning limits of a logical unit, computed in one place for VPD B0h, the
 * command checks and the transports.
 *
 * - MAX_TRANSFER_BYTES (32 MiB): the largest data transfer of one command. VPD B0h reports it as
 *   MAXIMUM TRANSFER LENGTH; READ/WRITE/VERIFY beyond it get INVALID FIELD IN CDB (SBC-3 §6.5.3).
 *   Transports size their buffers with it. 32 MiB rather than less because libiscsi's
 *   WriteSame16.Unmap writes and reads 65536 blocks of 512 bytes in single commands whatever the
 *   page says, and initiators that honour the page are not hurt by a larger limit.
 * - UNMAP: at most 4095 descriptors (a 64 KiB parameter list) and no limit on the LBA count per
 *   command other than the 32-bit field.
 * - WRITE SAME: up to 1 GiB per command (a non-zero pattern is written in batches).
 * - Granularity: the device's preferred block size, in logical blocks.
 */
import type { LogicalUnit } from '../logical-unit.js';

export const MAX_TRANSFER_BYTES = 32 * 1024 * 1024;
export const MAX_UNMAP_DESCRIPTORS = 4095;
export const MAX_WRITE_SAME_BYTES = 1024 * 1024 * 1024;

export interface LuLimits {
  maxTransferBlocks: number;
  optimalGranularity: number;
  maxUnmapBlocks: number;
  maxUnmapDescriptors: number;
  maxWriteSameBlocks: number;
}

export function limits(lu: LogicalUnit): LuLimits {
  return {
    maxTransferBlocks: MAX_TRANSFER_BYTES / lu.blockSize,
    optimalGranularity: Math.max(1, Math.floor(lu.device.caps.preferredBlockSize / lu.blockSize)),
    maxUnmapBlocks: 0xffffffff,
    maxUnmapDescriptors: MAX_UNMAP_DESCRIPTORS,
    maxWriteSameBlocks: MAX_WRITE_SAME_BYTES / lu.blockSize,
  };
}
