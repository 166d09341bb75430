/**
 * Compressed grains of a stream-optimized extent: a grain marker (markers.ts) followed by the
 * grain's bytes as one zlib stream (deflate, RFC 1950, what VMware and qemu-img write).
 *
 * Reading never trusts the marker: the compressed size is capped (two grains, as qemu) and
 * checked against the file's length before anything is allocated, the marker's LBA must be the
 * grain the table says it is, and the data must inflate to at most one grain and to at least
 * the bytes the caller needs (the last grain of an extent may be stored short).
 * Failures are returned as a reason for the caller to report as corruption.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import type { HostFile } from '../../block/index.js';
import { decodeMarker, encodeGrainMarker, GRAIN_MARKER_HEADER } from './markers.js';
import { SECTOR } from './sparse-header.js';

export interface GrainRead {
  grain?: Buffer;
  /** Why the grain cannot be read (the extent is corrupt). */
  reason?: string;
}

/**
 * Reads and inflates the grain whose marker is at `sector`: a buffer of `grainBytes` bytes
 * (zero-padded when the stored grain is shorter), or a reason.
 */
export async function readCompressedGrain(
  file: HostFile,
  sector: number,
  lba: number,
  grainBytes: number,
  need: number,
): Promise<GrainRead> {
  const pos = sector * SECTOR;
  const where = `the compressed grain at sector ${sector}`;
  if (pos + GRAIN_MARKER_HEADER > file.size) return { reason: `${where} is past the end of the file` };
  const head = Buffer.alloc(16);
  await file.pread(pos, head);
  const m = decodeMarker(head);
  if (m.kind !== 'grain') return { reason: `${where} has no grain marker` };
  if (m.lba !== lba) {
    return {
      reason: `${where} is marked for sector ${m.lba}, but the grain table uses it for sector ${lba}`,
    };
  }
  if (m.size > 2 * grainBytes + SECTOR || pos + GRAIN_MARKER_HEADER + m.size > file.size) {
    return { reason: `${where} has an invalid size (${m.size} bytes)` };
  }
  const raw = Buffer.alloc(m.size);
  await file.pread(pos + GRAIN_MARKER_HEADER, raw);
  let out: Buffer;
  try {
    out = inflateSync(raw, { maxOutputLength: grainBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      return { reason: `${where} inflates past the grain size` };
    }
    return { reason: `${where} cannot be decompressed: ${(err as Error).message}` };
  }
  if (out.length < need) return { reason: `${where} decompresses to only ${out.length} bytes` };
  if (out.length < grainBytes) out = Buffer.concat([out, Buffer.alloc(grainBytes - out.length)]);
  return { grain: out };
}

/** A grain marker for the grain at `lba` with `data` deflated, padded to whole sectors. */
export function compressGrain(lba: number, data: Buffer): Buffer {
  return encodeGrainMarker(lba, deflateSync(data));
}
