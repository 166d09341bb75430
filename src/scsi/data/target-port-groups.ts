/**
 * REPORT TARGET PORT GROUPS parameter data (SPC-4 §6.37.2, Tables 316-320).
 *
 * Length-only header (PARAMETER DATA FORMAT 000b): bytes 0..3 RETURN DATA LENGTH (n - 3).
 * Extended header (001b): bytes 0..3 RETURN DATA LENGTH, byte 4 FORMAT TYPE(6..4) = 001b,
 * byte 5 IMPLICIT TRANSITION TIME, bytes 6..7 reserved.
 * Target port group descriptor: byte 0 PREF(7) ASYMMETRIC ACCESS STATE(3..0); byte 1 T_SUP(7)
 * O_SUP(6) LBD_SUP(4) U_SUP(3) S_SUP(2) AN_SUP(1) AO_SUP(0); bytes 2..3 TARGET PORT GROUP; byte 5
 * STATUS CODE; byte 6 vendor specific; byte 7 TARGET PORT COUNT; then one 4-byte target port
 * descriptor per port (bytes 2..3 RELATIVE TARGET PORT IDENTIFIER).
 */
import { BlockError } from '../../util/index.js';

/** Table 317 ASYMMETRIC ACCESS STATE. */
export const AccessState = {
  ACTIVE_OPTIMIZED: 0x0,
  ACTIVE_NON_OPTIMIZED: 0x1,
  STANDBY: 0x2,
  UNAVAILABLE: 0x3,
  LBA_DEPENDENT: 0x4,
  OFFLINE: 0xe,
  TRANSITIONING: 0xf,
} as const;

export interface TargetPortGroup {
  pref: boolean;
  state: number;
  /** Byte 1: the supported states (AO_SUP = 0x01 ...). */
  supported: number;
  group: number;
  statusCode: number;
  ports: number[];
}

export function encodeTargetPortGroups(groups: readonly TargetPortGroup[], extended: boolean): Buffer {
  const parts = groups.map((g) => {
    const b = Buffer.alloc(8 + 4 * g.ports.length);
    b[0] = (g.pref ? 0x80 : 0) | (g.state & 0x0f);
    b[1] = g.supported;
    b.writeUInt16BE(g.group, 2);
    b[5] = g.statusCode;
    b[7] = g.ports.length;
    g.ports.forEach((p, i) => b.writeUInt16BE(p, 8 + 4 * i + 2));
    return b;
  });
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(extended ? 8 : 4);
  h.writeUInt32BE(body.length + h.length - 4, 0);
  if (extended) h[4] = 0x10;
  return Buffer.concat([h, body]);
}

export function decodeTargetPortGroups(b: Buffer): { extended: boolean; groups: TargetPortGroup[] } {
  if (b.length < 4) throw new BlockError('INVALID', 'REPORT TARGET PORT GROUPS data too short');
  const extended = b.length >= 8 && (b[4]! & 0x70) === 0x10;
  const end = Math.min(b.length, 4 + b.readUInt32BE(0));
  const groups: TargetPortGroup[] = [];
  let off = extended ? 8 : 4;
  while (off + 8 <= end) {
    const count = b[off + 7]!;
    if (off + 8 + 4 * count > end) throw new BlockError('INVALID', 'target port group descriptor truncated');
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(b.readUInt16BE(off + 8 + 4 * i + 2));
    groups.push({
      pref: !!(b[off]! & 0x80),
      state: b[off]! & 0x0f,
      supported: b[off + 1]!,
      group: b.readUInt16BE(off + 2),
      statusCode: b[off + 5]!,
      ports,
    });
    off += 8 + 4 * count;
  }
  return { extended, groups };
}
