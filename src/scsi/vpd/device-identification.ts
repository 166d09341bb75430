/**
 * Device Identification VPD page (SPC-4 §7.8.6): a list of designation descriptors.
 *
 * Designation descriptor (Table 483): byte 0 PROTOCOL IDENTIFIER(7..4) | CODE SET(3..0);
 * byte 1 PIV(7) | ASSOCIATION(5..4) | DESIGNATOR TYPE(3..0); byte 3 DESIGNATOR LENGTH; then the
 * designator. SCSI name string designators (§7.8.6.11) are UTF-8, null terminated and padded
 * with nulls to a multiple of four bytes.
 */
import { BlockError } from '../../util/index.js';
import { decodeVpdPage, encodeVpdPage, VpdPageCode } from './page.js';

/** Table 484 CODE SET. */
export const CodeSet = { BINARY: 1, ASCII: 2, UTF8: 3 } as const;
/** Table 485 ASSOCIATION. */
export const Association = { LOGICAL_UNIT: 0, TARGET_PORT: 1, TARGET_DEVICE: 2 } as const;
/** Table 486 DESIGNATOR TYPE. */
export const DesignatorType = {
  VENDOR_SPECIFIC: 0,
  T10_VENDOR_ID: 1,
  EUI64: 2,
  NAA: 3,
  RELATIVE_TARGET_PORT: 4,
  TARGET_PORT_GROUP: 5,
  LOGICAL_UNIT_GROUP: 6,
  MD5_LOGICAL_UNIT: 7,
  SCSI_NAME_STRING: 8,
} as const;

export interface Designator {
  protocolId: number;
  codeSet: number;
  /** PIV: the PROTOCOL IDENTIFIER field is meaningful. */
  piv: boolean;
  association: number;
  type: number;
  value: Buffer;
}

/** A SCSI name string designator value: UTF-8, null terminated, padded to a multiple of 4. */
export function scsiNameString(name: string): Buffer {
  const s = Buffer.from(name, 'utf8');
  const len = Math.min(252, (s.length + 1 + 3) & ~3);
  const b = Buffer.alloc(len);
  s.copy(b, 0, 0, Math.min(s.length, len - 1));
  return b;
}

/** A RELATIVE TARGET PORT or TARGET PORT GROUP designator value (§7.8.6.7/§7.8.6.8). */
export function u16Designator(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(v & 0xffff, 2);
  return b;
}

export function encodeDeviceIdentification(peripheral: number, ds: readonly Designator[]): Buffer {
  const parts = ds.map((d) => {
    if (d.value.length > 255) throw new BlockError('INVALID', 'designator longer than 255 bytes');
    const h = Buffer.alloc(4);
    h[0] = ((d.protocolId & 0xf) << 4) | (d.codeSet & 0xf);
    h[1] = (d.piv ? 0x80 : 0) | ((d.association & 3) << 4) | (d.type & 0xf);
    h[3] = d.value.length;
    return Buffer.concat([h, d.value]);
  });
  return encodeVpdPage(peripheral, VpdPageCode.DEVICE_IDENTIFICATION, Buffer.concat(parts));
}

export function decodeDeviceIdentification(b: Buffer): Designator[] {
  const body = decodeVpdPage(b, VpdPageCode.DEVICE_IDENTIFICATION).body;
  const out: Designator[] = [];
  let off = 0;
  while (off + 4 <= body.length) {
    const len = body[off + 3]!;
    if (off + 4 + len > body.length) throw new BlockError('INVALID', 'designation descriptor truncated');
    out.push({
      protocolId: body[off]! >> 4,
      codeSet: body[off]! & 0xf,
      piv: !!(body[off + 1]! & 0x80),
      association: (body[off + 1]! >> 4) & 3,
      type: body[off + 1]! & 0xf,
      value: Buffer.from(body.subarray(off + 4, off + 4 + len)),
    });
    off += 4 + len;
  }
  return out;
}
