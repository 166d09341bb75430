/**
 * Grain directory and grain table entries (Virtual Disk Format 1.1, "Grain Directory and Grain
 * Table"; VMDK 5.0, "zeroed-grain GTE"). Both tables are arrays of little-endian uint32 sector
 * offsets in the extent file:
 *
 *   GDE: sector of a grain table of numGTEsPerGT entries; 0 = no table (every grain it would
 *        cover is unallocated; only stream-optimized writers leave such holes).
 *   GTE: sector of a grain; 0 = unallocated (reads the parent, or zeroes without one);
 *        1 = zeroed grain when the header has the zeroed-grain flag. In a compressed extent the
 *        sector holds a grain marker followed by the deflated grain.
 *
 * Raw entries are classified into a closed set before use (STYLE.md convention 3). An entry that
 * points into the metadata before the first grain (`overHead`) or past the end of the file is
 * `invalid`: following it would return someone else's bytes as guest data.
 */
import { SECTOR } from './sparse-header.js';

export const ENTRY_SIZE = 4;
/** The zeroed-grain GTE value. */
export const GTE_ZEROED = 1;

export type GrainEntry =
  | { kind: 'unallocated' }
  | { kind: 'zero' }
  | { kind: 'allocated'; sector: number }
  | { kind: 'invalid'; reason: string };

export type DirectoryEntry =
  { kind: 'none' } | { kind: 'table'; sector: number } | { kind: 'invalid'; reason: string };

/** What a grain or table must fit in. */
export interface EntryLimits {
  /** Sectors of metadata before the first grain. */
  overHead: number;
  /** Length of the extent file in bytes. */
  fileSize: number;
  /** Bytes a grain table occupies. */
  tableBytes: number;
  /** The header's zeroed-grain flag: GTE 1 means "zeroes". */
  zeroGrain: boolean;
}

/** Decodes `count` little-endian uint32 entries (a GD or a GT) into a fresh array. */
export function decodeEntries(buf: Buffer, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = buf.readUInt32LE(i * ENTRY_SIZE);
  return out;
}

/** Encodes entries [from, to) (all by default), padded with zeroes to `padTo` bytes. */
export function encodeEntries(entries: Uint32Array, from = 0, to = entries.length, padTo = 0): Buffer {
  const buf = Buffer.alloc(Math.max((to - from) * ENTRY_SIZE, padTo));
  for (let i = from; i < to; i++) buf.writeUInt32LE(entries[i]!, (i - from) * ENTRY_SIZE);
  return buf;
}

export function classifyGrainEntry(raw: number, index: number, lim: EntryLimits): GrainEntry {
  if (raw === 0) return { kind: 'unallocated' };
  if (raw === GTE_ZEROED && lim.zeroGrain) return { kind: 'zero' };
  if (raw < lim.overHead) {
    return {
      kind: 'invalid',
      reason: `the grain table entry of grain ${index} points into the extent's metadata (sector ${raw})`,
    };
  }
  if (raw * SECTOR >= lim.fileSize) {
    return {
      kind: 'invalid',
      reason: `the grain table entry of grain ${index} points past the end of the file (sector ${raw})`,
    };
  }
  return { kind: 'allocated', sector: raw };
}

export function classifyDirectoryEntry(raw: number, index: number, lim: EntryLimits): DirectoryEntry {
  if (raw === 0) return { kind: 'none' };
  if (raw * SECTOR + lim.tableBytes > lim.fileSize) {
    return {
      kind: 'invalid',
      reason: `grain directory entry ${index} points past the end of the file (sector ${raw})`,
    };
  }
  return { kind: 'table', sector: raw };
}

/** The table geometry of a sparse extent, derived from its header. */
export interface GrainGeometry {
  /** Bytes per grain. */
  grainBytes: number;
  /** Entries per grain table. */
  gtEntries: number;
  /** Guest bytes one grain table covers. */
  gtCoverage: number;
  /** Entries of the grain directory. */
  gdEntries: number;
  /** Bytes of one grain table, rounded up to whole sectors. */
  tableBytes: number;
  /** Bytes of the grain directory, rounded up to whole sectors. */
  gdBytes: number;
}

export function grainGeometry(
  capacitySectors: number,
  grainSectors: number,
  gtEntries: number,
): GrainGeometry {
  const grainBytes = grainSectors * SECTOR;
  const gtCoverage = grainBytes * gtEntries;
  const gdEntries = Math.ceil((capacitySectors * SECTOR) / gtCoverage);
  return {
    grainBytes,
    gtEntries,
    gtCoverage,
    gdEntries,
    tableBytes: Math.ceil((gtEntries * ENTRY_SIZE) / SECTOR) * SECTOR,
    gdBytes: Math.ceil((gdEntries * ENTRY_SIZE) / SECTOR) * SECTOR,
  };
}
