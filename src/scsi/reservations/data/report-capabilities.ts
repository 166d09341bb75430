/**
 * PERSISTENT RESERVE IN REPORT CAPABILITIES parameter data (SPC-4 §6.15.4 Table 183):
 *
 *   bytes 0..1  LENGTH (0008h)
 *   byte  2     RLR_C (7) | reserved (6..5) | CRH (4) | SIP_C (3) | ATP_C (2) | reserved (1) | PTPL_C (0)
 *   byte  3     TMV (7) | ALLOW COMMANDS (6..4) | reserved (3..1) | PTPL_A (0)
 *   bytes 4..5  PERSISTENT RESERVATION TYPE MASK (Table 185):
 *               byte 4: WR_EX_AR (7) EX_AC_RO (6) WR_EX_RO (5) - EX_AC (3) - WR_EX (1) -
 *               byte 5: EX_AC_AR (0)
 *   bytes 6..7  reserved
 */
import { PrCodecError } from '../codec-error.js';
import { PR_TYPES, type PrType } from '../pr-types.js';

export const REPORT_CAPABILITIES_LENGTH = 8;

export interface ReportCapabilitiesData {
  /** Replace Lost Reservation capable (SPC-5); always false here. */
  rlrC: boolean;
  /** Compatible Reservation Handling (§5.13.3 exceptions to SPC-2 RESERVE/RELEASE). */
  crh: boolean;
  /** Specify Initiator Ports capable. */
  sipC: boolean;
  /** All Target Ports capable. */
  atpC: boolean;
  /** Persist Through Power Loss capable. */
  ptplC: boolean;
  /** Type Mask Valid. */
  tmv: boolean;
  /** ALLOW COMMANDS (Table 184), 3 bits. */
  allowCommands: number;
  /** Persist Through Power Loss Activated (the last valid APTPL). */
  ptplA: boolean;
  types: PrType[];
}

/** Bit of each type in the 16-bit mask (byte 4 high, byte 5 low). */
const MASK_BIT: Readonly<Record<PrType, number>> = {
  WE_AR: 0x8000,
  EA_RO: 0x4000,
  WE_RO: 0x2000,
  EA: 0x0800,
  WE: 0x0200,
  EA_AR: 0x0001,
};

export function encodeReportCapabilities(d: ReportCapabilitiesData): Buffer {
  const b = Buffer.alloc(REPORT_CAPABILITIES_LENGTH);
  b.writeUInt16BE(REPORT_CAPABILITIES_LENGTH, 0);
  b[2] =
    (d.rlrC ? 0x80 : 0) | (d.crh ? 0x10 : 0) | (d.sipC ? 0x08 : 0) | (d.atpC ? 0x04 : 0) | (d.ptplC ? 1 : 0);
  b[3] = (d.tmv ? 0x80 : 0) | ((d.allowCommands & 7) << 4) | (d.ptplA ? 1 : 0);
  b.writeUInt16BE(
    d.types.reduce((m, t) => m | MASK_BIT[t], 0),
    4,
  );
  return b;
}

export function decodeReportCapabilities(b: Buffer): ReportCapabilitiesData {
  if (b.length < REPORT_CAPABILITIES_LENGTH)
    throw new PrCodecError('length', 0, 'REPORT CAPABILITIES truncated');
  const mask = b.readUInt16BE(4);
  return {
    rlrC: !!(b[2]! & 0x80),
    crh: !!(b[2]! & 0x10),
    sipC: !!(b[2]! & 0x08),
    atpC: !!(b[2]! & 0x04),
    ptplC: !!(b[2]! & 0x01),
    tmv: !!(b[3]! & 0x80),
    allowCommands: (b[3]! >> 4) & 7,
    ptplA: !!(b[3]! & 0x01),
    types: PR_TYPES.filter((t) => mask & MASK_BIT[t]),
  };
}
