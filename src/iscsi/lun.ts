/**
 * The 8-byte LUN field (SAM-5 §4.7; RFC 7143 §11.3.4 carries it as-is).
 *
 * Single-level LUNs only, in the two addressing methods initiators use: peripheral device
 * addressing (method 00b, bus 0: LUN 0..255 in byte 1) and flat space addressing (method 01b:
 * LUN 0..16383 in 14 bits). Anything else (a hierarchical address, a non-zero second level) is
 * `NO_SUCH_LUN`, which no logical unit has, so the SCSI core answers it with LOGICAL UNIT NOT
 * SUPPORTED like any other absent LUN.
 */
export const NO_SUCH_LUN = 0x10000;

export function decodeLun(raw: bigint): number {
  const hi = Number(raw >> 48n);
  if ((raw & 0xffffffffffffn) !== 0n) return NO_SUCH_LUN;
  const method = hi >> 14;
  if (method === 0) return hi >> 8 === 0 ? hi & 0xff : NO_SUCH_LUN;
  if (method === 1) return hi & 0x3fff;
  return NO_SUCH_LUN;
}

/** Peripheral addressing below 256, flat space addressing above (as Linux's int_to_scsilun). */
export function encodeLun(lun: number): bigint {
  if (lun < 256) return BigInt(lun) << 48n;
  return BigInt(0x4000 | (lun & 0x3fff)) << 48n;
}
