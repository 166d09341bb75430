/**
 * PERSISTENT RESERVE IN READ RESERVATION parameter data (SPC-4 §6.15.3, Tables 179 and 180):
 *
 *   bytes 0..3    PRGENERATION
 *   bytes 4..7    ADDITIONAL LENGTH: 0 without a persistent reservation, 16 with one
 *   bytes 8..15   RESERVATION KEY (zero for the All Registrants types, §6.15.3.1)
 *   bytes 16..19  obsolete
 *   byte  20      reserved
 *   byte  21      SCOPE (7..4) | TYPE (3..0)
 *   bytes 22..23  obsolete
 */
import { PrCodecError } from '../codec-error.js';
import { classifyType, PR_TYPE_CODE, type PrType } from '../pr-types.js';

export const READ_RESERVATION_EMPTY = 8;
export const READ_RESERVATION_FULL = 24;

export interface ReadReservationData {
  generation: number;
  reservation?: { key: bigint; scope: number; type: PrType };
}

export function encodeReadReservation(d: ReadReservationData): Buffer {
  const r = d.reservation;
  const b = Buffer.alloc(r ? READ_RESERVATION_FULL : READ_RESERVATION_EMPTY);
  b.writeUInt32BE(d.generation >>> 0, 0);
  if (r) {
    b.writeUInt32BE(16, 4);
    b.writeBigUInt64BE(r.key, 8);
    b[21] = ((r.scope & 0xf) << 4) | PR_TYPE_CODE[r.type];
  }
  return b;
}

export function decodeReadReservation(b: Buffer): ReadReservationData {
  if (b.length < READ_RESERVATION_EMPTY) throw new PrCodecError('length', 0, 'READ RESERVATION truncated');
  const generation = b.readUInt32BE(0);
  const additional = b.readUInt32BE(4);
  if (additional === 0) return { generation };
  if (additional !== 16 || b.length < READ_RESERVATION_FULL)
    throw new PrCodecError('length', 4, `READ RESERVATION additional length ${additional}`);
  const type = classifyType(b[21]! & 0xf);
  if (!type) throw new PrCodecError('field', 21, `reservation TYPE ${b[21]! & 0xf}`, 3);
  return { generation, reservation: { key: b.readBigUInt64BE(8), scope: b[21]! >> 4, type } };
}
