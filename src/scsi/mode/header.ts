/**
 * Mode parameter headers (SPC-4 §7.5.5).
 *
 * MODE SENSE (6)/SELECT (6) header (Table 360), 4 bytes: MODE DATA LENGTH, MEDIUM TYPE,
 * DEVICE-SPECIFIC PARAMETER, BLOCK DESCRIPTOR LENGTH.
 * MODE SENSE (10)/SELECT (10) header (Table 361), 8 bytes: MODE DATA LENGTH (2), MEDIUM TYPE,
 * DEVICE-SPECIFIC PARAMETER, byte 4 LONGLBA(0), reserved, BLOCK DESCRIPTOR LENGTH (2).
 *
 * For direct-access devices the DEVICE-SPECIFIC PARAMETER is WP(7) | DPOFUA(4) (SBC-3 §6.4.1).
 * MODE DATA LENGTH excludes itself; in MODE SELECT it is reserved (must be zero).
 */
import { BlockError } from '../../util/index.js';

export type ModeHeaderSize = 6 | 10;
export const MODE_HEADER6_LENGTH = 4;
export const MODE_HEADER10_LENGTH = 8;

export const DeviceSpecific = { WP: 0x80, DPOFUA: 0x10 } as const;

export interface ModeHeader {
  modeDataLength: number;
  mediumType: number;
  deviceSpecific: number;
  longLba: boolean;
  blockDescriptorLength: number;
}

export function modeHeaderLength(size: ModeHeaderSize): number {
  return size === 6 ? MODE_HEADER6_LENGTH : MODE_HEADER10_LENGTH;
}

export function encodeModeHeader(size: ModeHeaderSize, h: ModeHeader): Buffer {
  if (size === 6) {
    const b = Buffer.alloc(MODE_HEADER6_LENGTH);
    b[0] = Math.min(h.modeDataLength, 0xff);
    b[1] = h.mediumType;
    b[2] = h.deviceSpecific;
    b[3] = h.blockDescriptorLength;
    return b;
  }
  const b = Buffer.alloc(MODE_HEADER10_LENGTH);
  b.writeUInt16BE(Math.min(h.modeDataLength, 0xffff), 0);
  b[2] = h.mediumType;
  b[3] = h.deviceSpecific;
  b[4] = h.longLba ? 1 : 0;
  b.writeUInt16BE(h.blockDescriptorLength, 6);
  return b;
}

export function decodeModeHeader(size: ModeHeaderSize, b: Buffer): ModeHeader {
  if (b.length < modeHeaderLength(size)) throw new BlockError('INVALID', 'mode parameter header truncated');
  if (size === 6) {
    return {
      modeDataLength: b[0]!,
      mediumType: b[1]!,
      deviceSpecific: b[2]!,
      longLba: false,
      blockDescriptorLength: b[3]!,
    };
  }
  return {
    modeDataLength: b.readUInt16BE(0),
    mediumType: b[2]!,
    deviceSpecific: b[3]!,
    longLba: !!(b[4]! & 1),
    blockDescriptorLength: b.readUInt16BE(6),
  };
}
