/**
 * Opening a hosted sparse extent: read the header (or, for a stream-optimized extent whose header
 * says GD_AT_END, the footer in the last sectors of the file), check every field against the file
 * it describes, and load the grain directory and its redundant copy.
 *
 * Never trust a length (STYLE.md convention 4): the grain size, the table geometry and every
 * table offset are checked against fixed caps and against the file's length before anything is
 * allocated or read. Checks follow qemu's where it has them (version <= 3, numGTEsPerGT <= 512,
 * at most 32 Mi directory entries, a file at least overHead sectors long) and are stricter where
 * a bad value would otherwise turn into wrong data (tables past the end of the file).
 */
import type { HostFile } from '../../block/index.js';
import { BlockError } from '../../util/index.js';
import { decodeEntries, grainGeometry, type GrainGeometry } from './grain-table.js';
import { decodeMarker } from './markers.js';
import {
  CHECK_BYTES,
  COMPRESS_DEFLATE,
  COMPRESS_NONE,
  decodeSparseHeader,
  FLAGS,
  SECTOR,
  SPARSE_HEADER_SIZE,
  SPARSE_MAGIC,
  type SparseHeader,
} from './sparse-header.js';

/** The largest grain vdisk accepts (qemu: 1 GiB). A compressed grain is held in memory whole. */
export const MAX_GRAIN_SECTORS = 32768; // 16 MiB
/** The largest grain table the format allows (VMDK 1.1: always 512). */
export const MAX_GT_ENTRIES = 512;
/** The largest grain directory qemu opens (32 Mi entries). */
export const MAX_GD_ENTRIES = 32 * 1024 * 1024;
/** Grain and table sectors are 32-bit: an extent file ends below 2 TiB. */
export const MAX_EXTENT_SECTORS = 2 ** 32;

export interface OpenedSparse {
  header: SparseHeader;
  /** The header at sector 0 as stored (differs from `header` when the footer holds the real one). */
  primary: SparseHeader;
  /** Byte offset of the footer marker, when the footer was used. */
  footerAt: number | undefined;
  geometry: GrainGeometry;
  gd: Uint32Array;
  /** The redundant grain directory, when the header has one. */
  rgd: Uint32Array | undefined;
  compressed: boolean;
  zeroGrain: boolean;
}

function corrupt(path: string, why: string): BlockError {
  return new BlockError('CORRUPT', `VMDK extent ${path}: ${why}`);
}

/** Reads the first sector: BAD_FORMAT without the magic, CORRUPT when the magic is there but the header is cut short. */
export async function readSparseHeader(file: HostFile): Promise<SparseHeader> {
  const size = file.size;
  const head = Buffer.alloc(SPARSE_HEADER_SIZE);
  await file.pread(0, head);
  if (!head.subarray(0, 4).equals(SPARSE_MAGIC)) {
    throw new BlockError('BAD_FORMAT', `${file.path} is not a VMDK sparse extent (bad magic)`);
  }
  if (size < SPARSE_HEADER_SIZE) {
    throw corrupt(file.path, `the header is truncated (the file has ${size} bytes, a header needs 512)`);
  }
  return decodeSparseHeader(head);
}

/** Reads the footer of a stream-optimized extent: footer marker, footer, end-of-stream marker. */
async function readFooter(file: HostFile): Promise<{ header: SparseHeader; at: number }> {
  const size = file.size;
  if (size < 4 * SECTOR || size % SECTOR !== 0) {
    throw corrupt(file.path, 'the header says the grain directory is at the end, but there is no footer');
  }
  const at = size - 3 * SECTOR;
  const buf = Buffer.alloc(3 * SECTOR);
  await file.pread(at, buf);
  const marker = decodeMarker(buf);
  const eos = decodeMarker(buf.subarray(2 * SECTOR));
  if (
    marker.kind !== 'footer' ||
    eos.kind !== 'eos' ||
    !buf.subarray(SECTOR, SECTOR + 4).equals(SPARSE_MAGIC)
  ) {
    throw corrupt(file.path, 'invalid footer (no footer marker, footer and end-of-stream marker at the end)');
  }
  const header = decodeSparseHeader(buf.subarray(SECTOR, 2 * SECTOR));
  if (header.gdAtEnd) throw corrupt(file.path, 'the footer does not say where the grain directory is');
  return { header, at };
}

/** Checks a header's fields against the file; returns its geometry. */
function validate(path: string, h: SparseHeader, fileSize: number): GrainGeometry {
  if (h.version < 1 || h.version > 3) {
    throw new BlockError('NOT_SUPPORTED', `VMDK extent ${path}: unsupported version ${h.version}`);
  }
  if (h.flags & FLAGS.NL_DETECT && !h.checkBytes.equals(CHECK_BYTES)) {
    throw corrupt(path, 'the newline check bytes are damaged (was the file transferred in text mode?)');
  }
  if (h.compressAlgorithm !== COMPRESS_NONE && h.compressAlgorithm !== COMPRESS_DEFLATE) {
    throw new BlockError(
      'NOT_SUPPORTED',
      `VMDK extent ${path}: unknown compression algorithm ${h.compressAlgorithm}`,
    );
  }
  if (h.compressAlgorithm === COMPRESS_DEFLATE && !(h.flags & FLAGS.MARKERS)) {
    throw new BlockError(
      'NOT_SUPPORTED',
      `VMDK extent ${path}: compressed grains without markers are not supported`,
    );
  }
  if (h.grainSize < 1 || h.grainSize > MAX_GRAIN_SECTORS) {
    throw corrupt(
      path,
      `invalid grain size ${h.grainSize} sectors (vdisk accepts 1 to ${MAX_GRAIN_SECTORS})`,
    );
  }
  if (h.numGTEsPerGT < 1 || h.numGTEsPerGT > MAX_GT_ENTRIES) {
    throw corrupt(path, `invalid number of grain table entries ${h.numGTEsPerGT} (1 to ${MAX_GT_ENTRIES})`);
  }
  if (h.capacity * SECTOR > Number.MAX_SAFE_INTEGER)
    throw corrupt(path, `capacity ${h.capacity} is too large`);
  const g = grainGeometry(h.capacity, h.grainSize, h.numGTEsPerGT);
  if (g.gdEntries > MAX_GD_ENTRIES)
    throw corrupt(path, `the grain directory is too large (${g.gdEntries} entries)`);
  if (h.overHead * SECTOR > fileSize) {
    throw corrupt(
      path,
      `the file is truncated: expected at least ${h.overHead * SECTOR} bytes, found ${fileSize}`,
    );
  }
  const checkTable = (sector: number, what: string): void => {
    if (sector === 0 || sector * SECTOR + g.gdEntries * 4 > fileSize) {
      throw corrupt(path, `the ${what} (sector ${sector}) is outside the file`);
    }
  };
  if (g.gdEntries > 0) {
    checkTable(h.gdOffset, 'grain directory');
    if (h.flags & FLAGS.REDUNDANT_GT && h.rgdOffset) checkTable(h.rgdOffset, 'redundant grain directory');
  }
  return g;
}

/** Opens the sparse extent in `file` (whose first sector has the KDMV magic). */
export async function openSparse(file: HostFile): Promise<OpenedSparse> {
  const primary = await readSparseHeader(file);
  let header = primary;
  let footerAt: number | undefined;
  if (primary.gdAtEnd) {
    const f = await readFooter(file);
    header = f.header;
    footerAt = f.at;
  }
  const geometry = validate(file.path, header, file.size);
  const gdLen = geometry.gdEntries * 4;
  const gdBuf = Buffer.alloc(gdLen);
  if (gdLen) await file.pread(header.gdOffset * SECTOR, gdBuf);
  const gd = decodeEntries(gdBuf, geometry.gdEntries);
  let rgd: Uint32Array | undefined;
  if (header.flags & FLAGS.REDUNDANT_GT && header.rgdOffset && gdLen) {
    const rbuf = Buffer.alloc(gdLen);
    await file.pread(header.rgdOffset * SECTOR, rbuf);
    rgd = decodeEntries(rbuf, geometry.gdEntries);
  }
  return {
    header,
    primary,
    footerAt,
    geometry,
    gd,
    rgd,
    compressed: header.compressAlgorithm === COMPRESS_DEFLATE,
    zeroGrain: (header.flags & FLAGS.ZERO_GRAIN) !== 0,
  };
}

/** The descriptor embedded in a sparse extent, as bytes (empty when there is none). */
export async function readEmbeddedDescriptor(file: HostFile, h: SparseHeader): Promise<Buffer> {
  if (!h.descriptorOffset || !h.descriptorSize) return Buffer.alloc(0);
  const start = h.descriptorOffset * SECTOR;
  const len = Math.min(h.descriptorSize * SECTOR, 1024 * 1024 - 1, Math.max(0, file.size - start));
  const buf = Buffer.alloc(len);
  await file.pread(start, buf);
  return buf;
}
