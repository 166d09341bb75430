/**
 * Login Request PDU (RFC 7143 §11.12):
 *
 *     byte 0      .|1| 0x03          (the I bit is always 1)
 *     byte 1      T|C|.|.|CSG|NSG    (T: transit, C: continue, §11.12.1-§11.12.3)
 *     byte 2      Version-max
 *     byte 3      Version-min
 *     bytes 4-7   TotalAHSLength, DataSegmentLength (text key=value pairs)
 *     bytes 8-13  ISID (§11.12.5: T, A, B, C, D)
 *     bytes 14-15 TSIH (0 for a new session)
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-21 CID
 *     bytes 24-27 CmdSN
 *     bytes 28-31 ExpStatSN (or reserved on the first login of a connection)
 */
import { OP } from './constants.js';
import { bhsBuffer, bhsDataSegmentLength, writeBhsStart } from './bhs.js';

export interface LoginRequestPdu {
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionMin: number;
  dataSegmentLength: number;
  /** The 6-byte ISID as a 48-bit number. */
  isid: number;
  tsih: number;
  itt: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}

export function decodeLoginRequest(b: Buffer): LoginRequestPdu {
  return {
    transit: (b[1]! & 0x80) !== 0,
    continue: (b[1]! & 0x40) !== 0,
    csg: (b[1]! >> 2) & 3,
    nsg: b[1]! & 3,
    versionMax: b[2]!,
    versionMin: b[3]!,
    dataSegmentLength: bhsDataSegmentLength(b),
    isid: b.readUIntBE(8, 6),
    tsih: b.readUInt16BE(14),
    itt: b.readUInt32BE(16),
    cid: b.readUInt16BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
  };
}

export function encodeLoginRequest(p: LoginRequestPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  const byte1 = (p.transit ? 0x80 : 0) | (p.continue ? 0x40 : 0) | ((p.csg & 3) << 2) | (p.nsg & 3);
  writeBhsStart(b, OP.LOGIN_REQUEST, true, byte1, 0, p.dataSegmentLength);
  b[2] = p.versionMax;
  b[3] = p.versionMin;
  b.writeUIntBE(p.isid, 8, 6);
  b.writeUInt16BE(p.tsih, 14);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt16BE(p.cid, 20);
  b.writeUInt32BE(p.cmdSN, 24);
  b.writeUInt32BE(p.expStatSN, 28);
  return b;
}
