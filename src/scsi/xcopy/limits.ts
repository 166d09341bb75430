/**
 * The limits of vdisk's copy manager, in one place for EXTENDED COPY's checks, RECEIVE COPY
 * RESULTS OPERATING PARAMETERS (SPC-4 §6.18.4) and the third-party copy VPD page (SPC-4 §7.8.17).
 *
 * - 32 CSCD descriptors and 32 segment descriptors per command, and a descriptor list (CSCD list +
 *   segment list) of at most 32 x 32 + 32 x 28 bytes: enough for VMware's full copy (one or two
 *   CSCDs, one segment) and for our own clones, small enough to validate before copying anything.
 * - No inline or embedded data (MAXIMUM INLINE DATA LENGTH 0) and no held data (HELD DATA LIMIT
 *   0): only block to block segments are supported, and they need neither.
 * - A segment moves at most 65535 blocks (its 16-bit field); the copy reads and writes it in
 *   COPY_CHUNK_BYTES pieces so memory stays bounded whatever the list asks for.
 * - Held copy status: at most MAX_HELD_LISTS list identifiers per I_T nexus (the oldest completed
 *   one is forgotten first) and MAX_HELD_NEXUSES nexuses per logical unit.
 */
export const MAX_CSCD_DESCRIPTORS = 32;
export const MAX_SEGMENT_DESCRIPTORS = 32;
export const CSCD_BYTES = 32;
export const BLOCK_SEGMENT_BYTES = 28;
export const MAX_DESCRIPTOR_LIST_LENGTH =
  MAX_CSCD_DESCRIPTORS * CSCD_BYTES + MAX_SEGMENT_DESCRIPTORS * BLOCK_SEGMENT_BYTES;
export const MAX_INLINE_DATA_LENGTH = 0;
export const HELD_DATA_LIMIT = 0;
export const MAX_SEGMENT_BLOCKS = 0xffff;
export const COPY_CHUNK_BYTES = 8 * 1024 * 1024;
export const TOTAL_CONCURRENT_COPIES = 64;
export const MAX_HELD_LISTS = 64;
export const MAX_HELD_NEXUSES = 256;

/** MAXIMUM SEGMENT LENGTH in bytes for a logical unit of this block size. */
export const maxSegmentBytes = (blockSize: number): number => MAX_SEGMENT_BLOCKS * blockSize;
