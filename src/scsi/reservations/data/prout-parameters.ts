/**
 * PERSISTENT RESERVE OUT basic parameter list (SPC-4 §6.16.3 Table 191), used by every service
 * action except REGISTER AND MOVE:
 *
 *   bytes 0..7    RESERVATION KEY
 *   bytes 8..15   SERVICE ACTION RESERVATION KEY
 *   bytes 16..19  obsolete (scope-specific address)
 *   byte  20      reserved (7..4) | SPEC_I_PT (3) | ALL_TG_PT (2) | reserved (1) | APTPL (0)
 *   byte  21      reserved
 *   bytes 22..23  obsolete
 *   with SPEC_I_PT = 1 (REGISTER only):
 *   bytes 24..27  TRANSPORTID PARAMETER DATA LENGTH (n - 27)
 *   bytes 28..n   TransportIDs
 *
 * Length rules (§6.16.3): with SPEC_I_PT = 0 the PARAMETER LIST LENGTH shall be 24; with
 * SPEC_I_PT = 1 it shall cover exactly the TransportID list, and no TransportID may be cut by the
 * TRANSPORTID PARAMETER DATA LENGTH. Either failure is PARAMETER LIST LENGTH ERROR. Whether
 * SPEC_I_PT is allowed for the service action is the caller's check (prout.ts).
 */
import { PrCodecError } from '../codec-error.js';
import { decodeTransportId, encodeTransportId, type TransportId } from '../transport-id.js';

export const PROUT_BASIC_LENGTH = 24;
export const SPEC_I_PT_HEADER = 28;

export interface ProutParameters {
  key: bigint;
  serviceActionKey: bigint;
  specIPt: boolean;
  allTgPt: boolean;
  aptpl: boolean;
  /** With SPEC_I_PT = 1: the TransportIDs and their byte offsets in the parameter list. */
  transportIds: { id: TransportId; offset: number }[];
}

export function encodeProutParameters(
  p: Omit<ProutParameters, 'transportIds'> & { transportIds?: TransportId[] },
): Buffer {
  const tids = p.specIPt ? (p.transportIds ?? []).map(encodeTransportId) : [];
  const list = Buffer.concat(tids);
  const b = Buffer.alloc(p.specIPt ? SPEC_I_PT_HEADER + list.length : PROUT_BASIC_LENGTH);
  b.writeBigUInt64BE(p.key, 0);
  b.writeBigUInt64BE(p.serviceActionKey, 8);
  b[20] = (p.specIPt ? 0x08 : 0) | (p.allTgPt ? 0x04 : 0) | (p.aptpl ? 0x01 : 0);
  if (p.specIPt) {
    b.writeUInt32BE(list.length, 24);
    list.copy(b, SPEC_I_PT_HEADER);
  }
  return b;
}

/** Decodes a parameter list of exactly PARAMETER LIST LENGTH bytes. */
export function decodeProutParameters(b: Buffer): ProutParameters {
  if (b.length < PROUT_BASIC_LENGTH)
    throw new PrCodecError('length', 0, `parameter list of ${b.length} bytes, expected 24`);
  const flags = b[20]!;
  const p: ProutParameters = {
    key: b.readBigUInt64BE(0),
    serviceActionKey: b.readBigUInt64BE(8),
    specIPt: !!(flags & 0x08),
    allTgPt: !!(flags & 0x04),
    aptpl: !!(flags & 0x01),
    transportIds: [],
  };
  if (!p.specIPt) {
    if (b.length !== PROUT_BASIC_LENGTH)
      throw new PrCodecError('length', 0, `parameter list of ${b.length} bytes with SPEC_I_PT = 0`);
    return p;
  }
  if (b.length < SPEC_I_PT_HEADER)
    throw new PrCodecError('length', 24, 'TRANSPORTID PARAMETER DATA LENGTH missing');
  const listLength = b.readUInt32BE(24);
  if (SPEC_I_PT_HEADER + listLength !== b.length)
    throw new PrCodecError('length', 24, `TransportID list of ${listLength} bytes in ${b.length - 28}`);
  let off = SPEC_I_PT_HEADER;
  while (off < b.length) {
    try {
      const { id, length } = decodeTransportId(b.subarray(off));
      p.transportIds.push({ id, offset: off });
      off += length;
    } catch (e) {
      throw e instanceof PrCodecError ? e.shifted(off) : e;
    }
  }
  return p;
}
