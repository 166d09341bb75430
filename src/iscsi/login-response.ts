/**
 * Login Response PDU (RFC 7143 §11.13):
 *
 *     byte 1      T|C|.|.|CSG|NSG
 *     byte 2      Version-max
 *     byte 3      Version-active
 *     bytes 4-7   TotalAHSLength (0), DataSegmentLength
 *     bytes 8-13  ISID
 *     bytes 14-15 TSIH (set by the target on the final response)
 *     bytes 16-19 Initiator Task Tag
 *     bytes 24-27 StatSN
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 *     byte 36     Status-Class, byte 37 Status-Detail (§11.13.5), here one 16-bit `status`
 */
import { OP } from './constants.js';
import {
  bhsBuffer,
  bhsDataSegmentLength,
  decodeTargetSequence,
  encodeTargetSequence,
  writeBhsStart,
} from './bhs.js';

export interface LoginResponsePdu {
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionActive: number;
  dataSegmentLength: number;
  isid: number;
  tsih: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  status: number;
}

export function decodeLoginResponse(b: Buffer): LoginResponsePdu {
  return {
    transit: (b[1]! & 0x80) !== 0,
    continue: (b[1]! & 0x40) !== 0,
    csg: (b[1]! >> 2) & 3,
    nsg: b[1]! & 3,
    versionMax: b[2]!,
    versionActive: b[3]!,
    dataSegmentLength: bhsDataSegmentLength(b),
    isid: b.readUIntBE(8, 6),
    tsih: b.readUInt16BE(14),
    itt: b.readUInt32BE(16),
    ...decodeTargetSequence(b),
    status: b.readUInt16BE(36),
  };
}

export function encodeLoginResponse(p: LoginResponsePdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  const byte1 = (p.transit ? 0x80 : 0) | (p.continue ? 0x40 : 0) | ((p.csg & 3) << 2) | (p.nsg & 3);
  writeBhsStart(b, OP.LOGIN_RESPONSE, false, byte1, 0, p.dataSegmentLength);
  b[2] = p.versionMax;
  b[3] = p.versionActive;
  b.writeUIntBE(p.isid, 8, 6);
  b.writeUInt16BE(p.tsih, 14);
  b.writeUInt32BE(p.itt, 16);
  encodeTargetSequence(b, p);
  b.writeUInt16BE(p.status, 36);
  return b;
}
