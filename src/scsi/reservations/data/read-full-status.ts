/**
 * PERSISTENT RESERVE IN READ FULL STATUS parameter data (SPC-4 §6.15.5, Tables 187 and 188):
 *
 *   bytes 0..3  PRGENERATION
 *   bytes 4..7  ADDITIONAL LENGTH (n - 7): the bytes of every full status descriptor
 *   then one full status descriptor per registration:
 *     bytes 0..7    RESERVATION KEY
 *     bytes 8..11   reserved
 *     byte  12      reserved (7..2) | ALL_TG_PT (1) | R_HOLDER (0)
 *     byte  13      SCOPE (7..4) | TYPE (3..0)   (only meaningful with R_HOLDER = 1)
 *     bytes 14..17  reserved
 *     bytes 18..19  RELATIVE TARGET PORT IDENTIFIER (not meaningful with ALL_TG_PT = 1)
 *     bytes 20..23  ADDITIONAL DESCRIPTOR LENGTH (n - 23): the TransportID's length
 *     bytes 24..n   TRANSPORTID of the initiator port
 *
 * Decoding walks the descriptors within ADDITIONAL LENGTH and stops at the first one the
 * (possibly clipped) buffer does not hold entirely.
 */
import { PrCodecError } from '../codec-error.js';
import { classifyType, PR_TYPE_CODE, type PrType } from '../pr-types.js';
import { decodeTransportId, encodeTransportId, type TransportId } from '../transport-id.js';

export const FULL_STATUS_HEADER = 8;
export const FULL_STATUS_DESCRIPTOR_HEADER = 24;

export interface FullStatusDescriptor {
  key: bigint;
  allTgPt: boolean;
  holder: boolean;
  /** SCOPE and TYPE of the reservation, present when `holder`. */
  reservation?: { scope: number; type: PrType };
  relativeTargetPortId: number;
  transportId: TransportId;
}

export interface FullStatusData {
  generation: number;
  descriptors: FullStatusDescriptor[];
}

export function encodeFullStatusDescriptor(d: FullStatusDescriptor): Buffer {
  const tid = encodeTransportId(d.transportId);
  const b = Buffer.alloc(FULL_STATUS_DESCRIPTOR_HEADER + tid.length);
  b.writeBigUInt64BE(d.key, 0);
  b[12] = (d.allTgPt ? 0x02 : 0) | (d.holder ? 0x01 : 0);
  if (d.holder && d.reservation)
    b[13] = ((d.reservation.scope & 0xf) << 4) | PR_TYPE_CODE[d.reservation.type];
  b.writeUInt16BE(d.relativeTargetPortId & 0xffff, 18);
  b.writeUInt32BE(tid.length, 20);
  tid.copy(b, FULL_STATUS_DESCRIPTOR_HEADER);
  return b;
}

/** Decodes one descriptor at the start of `b`; returns it and its length. */
export function decodeFullStatusDescriptor(b: Buffer): { descriptor: FullStatusDescriptor; length: number } {
  if (b.length < FULL_STATUS_DESCRIPTOR_HEADER) throw new PrCodecError('length', 0, 'descriptor truncated');
  const tidLength = b.readUInt32BE(20);
  if (FULL_STATUS_DESCRIPTOR_HEADER + tidLength > b.length)
    throw new PrCodecError('length', 20, 'descriptor TransportID truncated');
  let tid;
  try {
    tid = decodeTransportId(
      b.subarray(FULL_STATUS_DESCRIPTOR_HEADER, FULL_STATUS_DESCRIPTOR_HEADER + tidLength),
    );
  } catch (e) {
    throw e instanceof PrCodecError ? e.shifted(FULL_STATUS_DESCRIPTOR_HEADER) : e;
  }
  const holder = !!(b[12]! & 0x01);
  const descriptor: FullStatusDescriptor = {
    key: b.readBigUInt64BE(0),
    allTgPt: !!(b[12]! & 0x02),
    holder,
    relativeTargetPortId: b.readUInt16BE(18),
    transportId: tid.id,
  };
  if (holder) {
    const type = classifyType(b[13]! & 0xf);
    if (!type) throw new PrCodecError('field', 13, `reservation TYPE ${b[13]! & 0xf}`, 3);
    descriptor.reservation = { scope: b[13]! >> 4, type };
  }
  return { descriptor, length: FULL_STATUS_DESCRIPTOR_HEADER + tidLength };
}

export function encodeFullStatus(d: FullStatusData): Buffer {
  const descs = d.descriptors.map(encodeFullStatusDescriptor);
  const body = Buffer.concat(descs);
  const b = Buffer.alloc(FULL_STATUS_HEADER + body.length);
  b.writeUInt32BE(d.generation >>> 0, 0);
  b.writeUInt32BE(body.length, 4);
  body.copy(b, FULL_STATUS_HEADER);
  return b;
}

export function decodeFullStatus(b: Buffer): FullStatusData & { additionalLength: number } {
  if (b.length < FULL_STATUS_HEADER) throw new PrCodecError('length', 0, 'READ FULL STATUS truncated');
  const additionalLength = b.readUInt32BE(4);
  const end = Math.min(b.length, FULL_STATUS_HEADER + additionalLength);
  const descriptors: FullStatusDescriptor[] = [];
  let off = FULL_STATUS_HEADER;
  while (off + FULL_STATUS_DESCRIPTOR_HEADER <= end) {
    const tidLength = b.readUInt32BE(off + 20);
    if (off + FULL_STATUS_DESCRIPTOR_HEADER + tidLength > end) break; // clipped by the allocation length
    const { descriptor, length } = decodeFullStatusDescriptor(b.subarray(off, end));
    descriptors.push(descriptor);
    off += length;
  }
  return { generation: b.readUInt32BE(0), descriptors, additionalLength };
}
