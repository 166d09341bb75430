/**
 * qcow2 header extensions (docs/interop/qcow2.txt, "Header extensions"): after the header,
 * entries of { type u32, length u32, data, padding to 8 }, ended by type 0. Unknown extensions
 * are kept and written back unchanged.
 */
import { BlockError } from '../../util/index.js';

export const EXT = {
  END: 0x00000000,
  BACKING_FORMAT: 0xe2792aca,
  FEATURE_TABLE: 0x6803f857,
  BITMAPS: 0x23852875,
  CRYPTO: 0x0537be77,
  DATA_FILE: 0x44415441,
} as const;

export interface HeaderExtension {
  type: number;
  data: Buffer;
}

/** Decodes extensions from buf[start, end). Returns them and the offset just past the end marker. */
export function decodeExtensions(
  buf: Buffer,
  start: number,
  end: number,
): { exts: HeaderExtension[]; end: number } {
  const exts: HeaderExtension[] = [];
  let off = start;
  while (true) {
    if (off + 8 > end)
      throw new BlockError('CORRUPT', 'qcow2 header extension area overruns the first cluster');
    const type = buf.readUInt32BE(off);
    const len = buf.readUInt32BE(off + 4);
    off += 8;
    if (type === EXT.END) return { exts, end: off };
    // Never trust a length: it must fit in what is left of the cluster.
    if (len > end - off)
      throw new BlockError('CORRUPT', `qcow2 header extension 0x${type.toString(16)} is too long`);
    exts.push({ type, data: Buffer.from(buf.subarray(off, off + len)) });
    off += (len + 7) & ~7;
  }
}

/** Encodes extensions followed by the end marker. */
export function encodeExtensions(exts: HeaderExtension[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of exts) {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(e.type, 0);
    head.writeUInt32BE(e.data.length, 4);
    const padded = Buffer.alloc((e.data.length + 7) & ~7);
    e.data.copy(padded);
    parts.push(head, padded);
  }
  parts.push(Buffer.alloc(8)); // END
  return Buffer.concat(parts);
}

/** Feature name table entries: { type 0/1/2, bit, name (46 bytes, NUL padded) }. */
export function featureTable(entries: Array<{ type: 0 | 1 | 2; bit: number; name: string }>): Buffer {
  const buf = Buffer.alloc(entries.length * 48);
  entries.forEach((e, i) => {
    buf[i * 48] = e.type;
    buf[i * 48 + 1] = e.bit;
    buf.write(e.name, i * 48 + 2, 46, 'latin1');
  });
  return buf;
}

export function decodeFeatureTable(data: Buffer): Array<{ type: number; bit: number; name: string }> {
  const out = [];
  for (let off = 0; off + 48 <= data.length; off += 48) {
    const raw = data.subarray(off + 2, off + 48);
    const nul = raw.indexOf(0);
    out.push({
      type: data[off]!,
      bit: data[off + 1]!,
      name: raw.subarray(0, nul < 0 ? 46 : nul).toString('latin1'),
    });
  }
  return out;
}

/** The feature names qemu writes into new images. */
export const DEFAULT_FEATURE_TABLE = featureTable([
  { type: 0, bit: 0, name: 'dirty bit' },
  { type: 0, bit: 1, name: 'corrupt bit' },
  { type: 0, bit: 2, name: 'external data file' },
  { type: 0, bit: 3, name: 'compression type' },
  { type: 0, bit: 4, name: 'extended L2 entries' },
  { type: 1, bit: 0, name: 'lazy refcounts' },
  { type: 2, bit: 0, name: 'bitmaps' },
  { type: 2, bit: 1, name: 'raw external data' },
]);
