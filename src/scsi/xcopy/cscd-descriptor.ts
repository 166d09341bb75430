/**
 * CSCD (copy source and copy destination) descriptors of the EXTENDED COPY (LID1) parameter list
 * (SPC-4 §6.3.6). vdisk supports one type, the identification descriptor CSCD descriptor (E4h,
 * SPC-4 §6.3.6.2 Table 113), 32 bytes:
 *
 *   byte 0       DESCRIPTOR TYPE CODE (E4h)
 *   byte 1       obsolete (7..5: SPC-3's LU ID TYPE and NUL) | PERIPHERAL DEVICE TYPE (4..0)
 *   bytes 2..3   RELATIVE INITIATOR PORT IDENTIFIER
 *   byte 4       reserved (7..4) | CODE SET (3..0)
 *   byte 5       reserved (7..6) | ASSOCIATION (5..4) | DESIGNATOR TYPE (3..0)
 *   byte 6       reserved
 *   byte 7       DESIGNATOR LENGTH (at most 20)
 *   bytes 8..27  DESIGNATOR (as in VPD page 83h), zero padded
 *   bytes 28..31 DEVICE TYPE SPECIFIC PARAMETERS; for a block device (type 00h, SPC-4 Table 121):
 *                byte 28 PAD (2), bytes 29..31 DISK BLOCK LENGTH
 *
 * Every CSCD descriptor type is 32 bytes long except the IPv6 (EAh) and IP copy service (EBh)
 * descriptors, which are 64 (SPC-4 Table 108); that is how the list is walked past types we do
 * not support. Decoding classifies into a closed union; field problems are `invalid` with the
 * byte (and bit) relative to the descriptor, for the INVALID FIELD IN PARAMETER LIST pointer.
 *
 * SPC-4 made SPC-3's LU ID TYPE and NUL bits obsolete (the designator alone names the logical
 * unit), and vdisk claims SPC-4 (VERSION 06h): both are decoded for the record and ignored, as
 * libiscsi's ExtendedCopy.ValidTgtDescr expects of an SPC-4 target.
 */
import { BlockError } from '../../util/index.js';

export const CSCD_DESCRIPTOR_LENGTH = 32;
export const IDENTIFICATION_DESCRIPTOR = 0xe4;
export const MAX_DESIGNATOR_LENGTH = 20;
/** PERIPHERAL DEVICE TYPE 00h: direct access block device. */
export const BLOCK_DEVICE = 0;

/** The byte length of a CSCD descriptor with this type code (SPC-4 Table 108). */
export function cscdDescriptorLength(typeCode: number): number {
  return typeCode === 0xea || typeCode === 0xeb ? 64 : CSCD_DESCRIPTOR_LENGTH;
}

export interface IdentificationDescriptor {
  kind: 'identification';
  luIdType: number;
  nul: boolean;
  deviceType: number;
  relativeInitiatorPortId: number;
  codeSet: number;
  association: number;
  designatorType: number;
  designator: Buffer;
  pad: boolean;
  diskBlockLength: number;
}

export type CscdDescriptor =
  | IdentificationDescriptor
  | { kind: 'unsupported'; typeCode: number }
  | { kind: 'invalid'; byte: number; bit?: number; reason: string };

/** Decodes the descriptor at the start of `b` (at least `cscdDescriptorLength(b[0])` bytes). */
export function decodeCscdDescriptor(b: Buffer): CscdDescriptor {
  const typeCode = b[0]!;
  if (b.length < cscdDescriptorLength(typeCode)) throw new BlockError('INVALID', 'CSCD descriptor truncated');
  if (typeCode !== IDENTIFICATION_DESCRIPTOR) return { kind: 'unsupported', typeCode };
  const deviceType = b[1]! & 0x1f;
  if (deviceType !== BLOCK_DEVICE) {
    return { kind: 'invalid', byte: 1, bit: 4, reason: 'only block device copy targets are supported' };
  }
  const length = b[7]!;
  if (length > MAX_DESIGNATOR_LENGTH)
    return { kind: 'invalid', byte: 7, reason: 'DESIGNATOR LENGTH above 20' };
  return {
    kind: 'identification',
    luIdType: b[1]! >> 6,
    nul: !!(b[1]! & 0x20),
    deviceType,
    relativeInitiatorPortId: b.readUInt16BE(2),
    codeSet: b[4]! & 0x0f,
    association: (b[5]! >> 4) & 3,
    designatorType: b[5]! & 0x0f,
    designator: Buffer.from(b.subarray(8, 8 + length)),
    pad: !!(b[28]! & 0x04),
    diskBlockLength: b.readUIntBE(29, 3),
  };
}

export function encodeIdentificationDescriptor(d: Omit<IdentificationDescriptor, 'kind'>): Buffer {
  if (d.designator.length > MAX_DESIGNATOR_LENGTH)
    throw new BlockError('INVALID', 'designator longer than 20 bytes');
  const b = Buffer.alloc(CSCD_DESCRIPTOR_LENGTH);
  b[0] = IDENTIFICATION_DESCRIPTOR;
  b[1] = ((d.luIdType & 3) << 6) | (d.nul ? 0x20 : 0) | (d.deviceType & 0x1f);
  b.writeUInt16BE(d.relativeInitiatorPortId, 2);
  b[4] = d.codeSet & 0x0f;
  b[5] = ((d.association & 3) << 4) | (d.designatorType & 0x0f);
  b[7] = d.designator.length;
  d.designator.copy(b, 8);
  b[28] = d.pad ? 0x04 : 0;
  b.writeUIntBE(d.diskBlockLength, 29, 3);
  return b;
}
