/**
 * MODE SENSE and MODE SELECT CDBs (SPC-4 §6.11-§6.12, §6.9-§6.10).
 *
 * MODE SENSE (6) (Table 163): byte 1 DBD(3); byte 2 PC(7..6) PAGE CODE(5..0); byte 3 SUBPAGE
 * CODE; byte 4 ALLOCATION LENGTH; byte 5 CONTROL.
 * MODE SENSE (10) (Table 165): byte 1 LLBAA(4) DBD(3); byte 2 PC/PAGE CODE; byte 3 SUBPAGE CODE;
 * bytes 7..8 ALLOCATION LENGTH; byte 9 CONTROL.
 * MODE SELECT (6) (Table 155): byte 1 PF(4) SP(0); byte 4 PARAMETER LIST LENGTH.
 * MODE SELECT (10) (Table 157): byte 1 PF(4) SP(0); bytes 7..8 PARAMETER LIST LENGTH.
 */
export const MODE_SENSE6 = 0x1a;
export const MODE_SENSE10 = 0x5a;
export const MODE_SELECT6 = 0x15;
export const MODE_SELECT10 = 0x55;

export interface ModeSenseCdb {
  size: 6 | 10;
  dbd: boolean;
  llbaa: boolean;
  pc: number;
  pageCode: number;
  subpageCode: number;
  allocationLength: number;
}

export interface ModeSelectCdb {
  size: 6 | 10;
  pf: boolean;
  sp: boolean;
  parameterListLength: number;
}

export function decodeModeSenseCdb(cdb: Buffer): ModeSenseCdb {
  const size = cdb[0] === MODE_SENSE6 ? 6 : 10;
  return {
    size,
    dbd: !!(cdb[1]! & 0x08),
    llbaa: size === 10 && !!(cdb[1]! & 0x10),
    pc: cdb[2]! >> 6,
    pageCode: cdb[2]! & 0x3f,
    subpageCode: cdb[3]!,
    allocationLength: size === 6 ? cdb[4]! : cdb.readUInt16BE(7),
  };
}

export function encodeModeSenseCdb(c: ModeSenseCdb): Buffer {
  const b = Buffer.alloc(c.size);
  b[0] = c.size === 6 ? MODE_SENSE6 : MODE_SENSE10;
  b[1] = (c.dbd ? 0x08 : 0) | (c.llbaa ? 0x10 : 0);
  b[2] = ((c.pc & 3) << 6) | (c.pageCode & 0x3f);
  b[3] = c.subpageCode;
  if (c.size === 6) b[4] = c.allocationLength;
  else b.writeUInt16BE(c.allocationLength, 7);
  return b;
}

export function decodeModeSelectCdb(cdb: Buffer): ModeSelectCdb {
  const size = cdb[0] === MODE_SELECT6 ? 6 : 10;
  return {
    size,
    pf: !!(cdb[1]! & 0x10),
    sp: !!(cdb[1]! & 0x01),
    parameterListLength: size === 6 ? cdb[4]! : cdb.readUInt16BE(7),
  };
}

export function encodeModeSelectCdb(c: ModeSelectCdb): Buffer {
  const b = Buffer.alloc(c.size);
  b[0] = c.size === 6 ? MODE_SELECT6 : MODE_SELECT10;
  b[1] = (c.pf ? 0x10 : 0) | (c.sp ? 0x01 : 0);
  if (c.size === 6) b[4] = c.parameterListLength;
  else b.writeUInt16BE(c.parameterListLength, 7);
  return b;
}
