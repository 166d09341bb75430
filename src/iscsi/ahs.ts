/**
 * Additional Header Segments (RFC 7143 §11.2.2):
 *
 *     bytes 0-1   AHSLength (bytes of AHS-Specific + data, without padding)
 *     byte 2      AHSType (1: Extended CDB, 2: Expected Bidirectional Read Data Length)
 *     byte 3      AHS-Specific (reserved for both types)
 *     bytes 4-    AHS data, padded to a 4-byte boundary
 *
 * Extended CDB (§11.2.2.3): the CDB bytes after the first 16, AHSLength = (CDB length - 16) + 1.
 * Expected Bidirectional Read Data Length (§11.2.2.4): AHSLength = 5, then the 4-byte length.
 *
 * `decodeAhsList` splits a TotalAHSLength area into segments and checks every length against the
 * area, so a lying AHSLength cannot read past it; `extendedCdb` joins the BHS's 16 CDB bytes with
 * an extended CDB AHS.
 */
import { IscsiPduError } from './errors.js';
import { padLength } from './bhs.js';
import { REJECT_REASON } from './constants.js';

export const AHS_TYPE = {
  EXTENDED_CDB: 1,
  BIDI_READ_LENGTH: 2,
} as const;

export type Ahs =
  | { type: 'extended-cdb'; cdbTail: Buffer }
  | { type: 'bidi-read-length'; length: number }
  | { type: 'unknown'; ahsType: number; specific: number; data: Buffer };

export function decodeAhsList(area: Buffer): Ahs[] {
  const out: Ahs[] = [];
  let at = 0;
  while (at < area.length) {
    if (area.length - at < 4) throw badAhs('an AHS header runs past TotalAHSLength');
    const len = area.readUInt16BE(at);
    const type = area[at + 2]!;
    if (len < 1) throw badAhs('an AHS with AHSLength 0');
    const dataLen = len - 1;
    const end = at + 4 + dataLen;
    if (end > area.length) throw badAhs(`an AHS of ${len} bytes runs past TotalAHSLength`);
    const data = area.subarray(at + 4, end);
    if (type === AHS_TYPE.EXTENDED_CDB) out.push({ type: 'extended-cdb', cdbTail: data });
    else if (type === AHS_TYPE.BIDI_READ_LENGTH) {
      if (dataLen !== 4) throw badAhs(`a bidirectional read length AHS with AHSLength ${len}`);
      out.push({ type: 'bidi-read-length', length: data.readUInt32BE(0) });
    } else out.push({ type: 'unknown', ahsType: type, specific: area[at + 3]!, data });
    at = end + padLength(end);
  }
  return out;
}

export function encodeAhs(a: Ahs): Buffer {
  let type: number;
  let data: Buffer;
  let specific = 0;
  switch (a.type) {
    case 'extended-cdb':
      type = AHS_TYPE.EXTENDED_CDB;
      data = a.cdbTail;
      break;
    case 'bidi-read-length':
      type = AHS_TYPE.BIDI_READ_LENGTH;
      data = Buffer.alloc(4);
      data.writeUInt32BE(a.length, 0);
      break;
    case 'unknown':
      type = a.ahsType;
      specific = a.specific;
      data = a.data;
      break;
  }
  const body = 4 + data.length;
  const b = Buffer.alloc(body + padLength(body));
  b.writeUInt16BE(data.length + 1, 0);
  b[2] = type;
  b[3] = specific;
  data.copy(b, 4);
  return b;
}

/** The full CDB: the BHS's 16 bytes, followed by an extended CDB AHS's bytes when present. */
export function extendedCdb(bhsCdb: Buffer, ahs: readonly Ahs[]): Buffer {
  const ext = ahs.find((a) => a.type === 'extended-cdb');
  return ext ? Buffer.concat([bhsCdb, ext.cdbTail]) : bhsCdb;
}

function badAhs(message: string): IscsiPduError {
  return new IscsiPduError(REJECT_REASON.PROTOCOL_ERROR, message);
}
