/**
 * Standard INQUIRY data (SPC-4 §6.4.2, Table 142): 96 bytes.
 *
 * Byte 0 PERIPHERAL QUALIFIER(7..5) | PERIPHERAL DEVICE TYPE(4..0); byte 1 RMB(7);
 * byte 2 VERSION (06h = SPC-4); byte 3 NORMACA(5) | HISUP(4) | RESPONSE DATA FORMAT(3..0) = 2;
 * byte 4 ADDITIONAL LENGTH (n - 4); byte 5 SCCS(7) ACC(6) TPGS(5..4) 3PC(3) PROTECT(0);
 * byte 6 ENCSERV(6) MULTIP(4) ADDR16(0); byte 7 WBUS16(5) SYNC(4) CMDQUE(1);
 * bytes 8..15 T10 VENDOR IDENTIFICATION, 16..31 PRODUCT IDENTIFICATION, 32..35 PRODUCT REVISION
 * LEVEL (ASCII, space padded); bytes 58..73 VERSION DESCRIPTOR 1..8 (SPC-4 Table 144).
 */
import { BlockError } from '../../util/index.js';

export const STANDARD_INQUIRY_LENGTH = 96;

/** SPC-4 §6.4.2 Table 143 version descriptors the core claims. */
export const VersionDescriptor = {
  SAM5: 0x00a0,
  SPC4: 0x0460,
  SBC3: 0x04c0,
  ISCSI: 0x0960,
} as const;

export interface StandardInquiry {
  peripheralQualifier: number;
  deviceType: number;
  removable: boolean;
  version: number;
  normAca: boolean;
  hiSup: boolean;
  /** 0 = no ALUA, 1 = implicit, 2 = explicit, 3 = both. */
  tpgs: number;
  threePc: boolean;
  protect: boolean;
  multiP: boolean;
  cmdQue: boolean;
  vendor: string;
  product: string;
  revision: string;
  versionDescriptors: number[];
}

function ascii(b: Buffer, off: number, s: string, len: number): void {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new BlockError('INVALID', `'${s}' is not printable ASCII`);
  b.write(s.slice(0, len).padEnd(len, ' '), off, len, 'latin1');
}

export function encodeStandardInquiry(d: StandardInquiry): Buffer {
  const b = Buffer.alloc(STANDARD_INQUIRY_LENGTH);
  b[0] = ((d.peripheralQualifier & 7) << 5) | (d.deviceType & 0x1f);
  b[1] = d.removable ? 0x80 : 0;
  b[2] = d.version;
  b[3] = (d.normAca ? 0x20 : 0) | (d.hiSup ? 0x10 : 0) | 0x02;
  b[4] = STANDARD_INQUIRY_LENGTH - 5;
  b[5] = ((d.tpgs & 3) << 4) | (d.threePc ? 0x08 : 0) | (d.protect ? 0x01 : 0);
  b[6] = d.multiP ? 0x10 : 0;
  b[7] = d.cmdQue ? 0x02 : 0;
  ascii(b, 8, d.vendor, 8);
  ascii(b, 16, d.product, 16);
  ascii(b, 32, d.revision, 4);
  d.versionDescriptors.slice(0, 8).forEach((v, i) => b.writeUInt16BE(v, 58 + 2 * i));
  return b;
}

export function decodeStandardInquiry(b: Buffer): StandardInquiry {
  if (b.length < 36) throw new BlockError('INVALID', `standard INQUIRY data too short (${b.length} bytes)`);
  const versionDescriptors: number[] = [];
  for (let off = 58; off + 2 <= Math.min(74, b.length); off += 2) {
    const v = b.readUInt16BE(off);
    if (v) versionDescriptors.push(v);
  }
  return {
    peripheralQualifier: b[0]! >> 5,
    deviceType: b[0]! & 0x1f,
    removable: !!(b[1]! & 0x80),
    version: b[2]!,
    normAca: !!(b[3]! & 0x20),
    hiSup: !!(b[3]! & 0x10),
    tpgs: (b[5]! >> 4) & 3,
    threePc: !!(b[5]! & 0x08),
    protect: !!(b[5]! & 0x01),
    multiP: !!(b[6]! & 0x10),
    cmdQue: !!(b[7]! & 0x02),
    vendor: b.toString('latin1', 8, 16),
    product: b.toString('latin1', 16, 32),
    revision: b.toString('latin1', 32, 36),
    versionDescriptors,
  };
}
