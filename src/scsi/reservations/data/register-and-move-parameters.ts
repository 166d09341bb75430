/**
 * PERSISTENT RESERVE OUT parameter list of REGISTER AND MOVE (SPC-4 §6.16.4 Table 193):
 *
 *   bytes 0..7    RESERVATION KEY
 *   bytes 8..15   SERVICE ACTION RESERVATION KEY (the key to register for the destination)
 *   byte  16      reserved
 *   byte  17      reserved (7..2) | UNREG (1) | APTPL (0)
 *   bytes 18..19  RELATIVE TARGET PORT IDENTIFIER (of the destination I_T nexus)
 *   bytes 20..23  TRANSPORTID PARAMETER DATA LENGTH (n - 23)
 *   bytes 24..n   TRANSPORTID (the destination initiator port)
 *
 * The PARAMETER LIST LENGTH shall cover the header and the TransportID exactly; anything else
 * is PARAMETER LIST LENGTH ERROR. Exactly one TransportID is decoded.
 */
import { PrCodecError } from '../codec-error.js';
import { decodeTransportId, encodeTransportId, type TransportId } from '../transport-id.js';

export const REGISTER_AND_MOVE_HEADER = 24;

export interface RegisterAndMoveParameters {
  key: bigint;
  serviceActionKey: bigint;
  unreg: boolean;
  aptpl: boolean;
  relativeTargetPortId: number;
  transportId: TransportId;
}

export function encodeRegisterAndMove(p: RegisterAndMoveParameters): Buffer {
  const tid = encodeTransportId(p.transportId);
  const b = Buffer.alloc(REGISTER_AND_MOVE_HEADER + tid.length);
  b.writeBigUInt64BE(p.key, 0);
  b.writeBigUInt64BE(p.serviceActionKey, 8);
  b[17] = (p.unreg ? 0x02 : 0) | (p.aptpl ? 0x01 : 0);
  b.writeUInt16BE(p.relativeTargetPortId & 0xffff, 18);
  b.writeUInt32BE(tid.length, 20);
  tid.copy(b, REGISTER_AND_MOVE_HEADER);
  return b;
}

/** Decodes a parameter list of exactly PARAMETER LIST LENGTH bytes. */
export function decodeRegisterAndMove(b: Buffer): RegisterAndMoveParameters {
  if (b.length < REGISTER_AND_MOVE_HEADER)
    throw new PrCodecError('length', 0, `REGISTER AND MOVE list of ${b.length} bytes`);
  const tidLength = b.readUInt32BE(20);
  if (REGISTER_AND_MOVE_HEADER + tidLength !== b.length)
    throw new PrCodecError('length', 20, `TransportID of ${tidLength} bytes in ${b.length - 24}`);
  let tid;
  try {
    tid = decodeTransportId(b.subarray(REGISTER_AND_MOVE_HEADER));
  } catch (e) {
    throw e instanceof PrCodecError ? e.shifted(REGISTER_AND_MOVE_HEADER) : e;
  }
  if (tid.length !== tidLength) throw new PrCodecError('length', 20, 'bytes after the TransportID');
  return {
    key: b.readBigUInt64BE(0),
    serviceActionKey: b.readBigUInt64BE(8),
    unreg: !!(b[17]! & 0x02),
    aptpl: !!(b[17]! & 0x01),
    relativeTargetPortId: b.readUInt16BE(18),
    transportId: tid.id,
  };
}
