/**
 * The two-byte header of a mode page in page_0 format (SPC-4 §7.5.7, Table 363): byte 0 PS(7)
 * SPF(6) PAGE CODE(5..0), byte 1 PAGE LENGTH (n - 1). Sub-page format (SPF = 1) pages have a
 * four-byte header: PAGE CODE, SUBPAGE CODE, PAGE LENGTH (2).
 */
import { BlockError } from '../../util/index.js';

export interface ModePageHeader {
  ps: boolean;
  spf: boolean;
  pageCode: number;
  subpageCode: number;
  /** Header + body length. */
  totalLength: number;
  headerLength: number;
}

export function decodeModePageHeader(b: Buffer, off: number): ModePageHeader {
  if (off + 2 > b.length) throw new BlockError('INVALID', 'mode page header truncated');
  const b0 = b[off]!;
  const spf = !!(b0 & 0x40);
  if (spf) {
    if (off + 4 > b.length) throw new BlockError('INVALID', 'sub-page header truncated');
    return {
      ps: !!(b0 & 0x80),
      spf,
      pageCode: b0 & 0x3f,
      subpageCode: b[off + 1]!,
      totalLength: 4 + b.readUInt16BE(off + 2),
      headerLength: 4,
    };
  }
  return {
    ps: !!(b0 & 0x80),
    spf,
    pageCode: b0 & 0x3f,
    subpageCode: 0,
    totalLength: 2 + b[off + 1]!,
    headerLength: 2,
  };
}

/** A page_0 format page: header + `body`. */
export function encodePage0(pageCode: number, body: Buffer, ps = false): Buffer {
  const b = Buffer.alloc(2 + body.length);
  b[0] = (ps ? 0x80 : 0) | (pageCode & 0x3f);
  b[1] = body.length;
  body.copy(b, 2);
  return b;
}

/** Checks the page code and length of a page_0 page and returns its body. */
export function decodePage0(b: Buffer, pageCode: number, bodyLength: number): Buffer {
  const h = decodeModePageHeader(b, 0);
  if (h.pageCode !== pageCode || h.spf)
    throw new BlockError('INVALID', `not mode page 0x${pageCode.toString(16)}`);
  if (h.totalLength - 2 !== bodyLength || b.length < h.totalLength) {
    throw new BlockError('INVALID', `mode page 0x${pageCode.toString(16)} has a bad length`);
  }
  return b.subarray(2, 2 + bodyLength);
}
