/**
 * CDBs of the unit commands.
 *
 * REQUEST SENSE (SPC-4 §6.29, Table 287): byte 1 DESC(0), byte 4 ALLOCATION LENGTH.
 * START STOP UNIT (SBC-3 §5.25, Table 88): byte 1 IMMED(0), byte 3 POWER CONDITION MODIFIER(3..0),
 * byte 4 POWER CONDITION(7..4) NO_FLUSH(2) LOEJ(1) START(0).
 * PREVENT ALLOW MEDIUM REMOVAL (SBC-3 §5.14, Table 58): byte 4 PREVENT(1..0).
 */
export const REQUEST_SENSE = 0x03;
export const START_STOP_UNIT = 0x1b;
export const PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1e;

export interface RequestSenseCdb {
  desc: boolean;
  allocationLength: number;
}

export interface StartStopUnitCdb {
  immed: boolean;
  powerConditionModifier: number;
  powerCondition: number;
  noFlush: boolean;
  loej: boolean;
  start: boolean;
}

export function decodeRequestSenseCdb(cdb: Buffer): RequestSenseCdb {
  return { desc: !!(cdb[1]! & 1), allocationLength: cdb[4]! };
}

export function encodeRequestSenseCdb(c: RequestSenseCdb): Buffer {
  return Buffer.from([REQUEST_SENSE, c.desc ? 1 : 0, 0, 0, c.allocationLength & 0xff, 0]);
}

export function decodeStartStopUnitCdb(cdb: Buffer): StartStopUnitCdb {
  const b4 = cdb[4]!;
  return {
    immed: !!(cdb[1]! & 1),
    powerConditionModifier: cdb[3]! & 0x0f,
    powerCondition: b4 >> 4,
    noFlush: !!(b4 & 0x04),
    loej: !!(b4 & 0x02),
    start: !!(b4 & 0x01),
  };
}

export function encodeStartStopUnitCdb(c: StartStopUnitCdb): Buffer {
  return Buffer.from([
    START_STOP_UNIT,
    c.immed ? 1 : 0,
    0,
    c.powerConditionModifier & 0x0f,
    ((c.powerCondition & 0x0f) << 4) | (c.noFlush ? 4 : 0) | (c.loej ? 2 : 0) | (c.start ? 1 : 0),
    0,
  ]);
}

/** PREVENT field: 00b allowed, 01b prevented (10b and 11b are obsolete). */
export function decodePreventAllowCdb(cdb: Buffer): { prevent: number } {
  return { prevent: cdb[4]! & 0x03 };
}

export function encodePreventAllowCdb(c: { prevent: number }): Buffer {
  return Buffer.from([PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, c.prevent & 3, 0]);
}
