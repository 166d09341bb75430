/**
 * A logical unit's identity, derived only from the volume's UUID (DESIGN.md: "its identity (NAA
 * designator in VPD 0x83, serial in 0x80) comes from the volume's UUID and is the same on every
 * target and portal").
 *
 * - Unit serial number (VPD 80h): the UUID's 32 hex digits, lower case, without dashes.
 * - NAA IEEE Registered Extended designator (SPC-4 §7.8.6.6.5, NAA 6h): 4 bits NAA, 24 bits
 *   IEEE COMPANY_ID, 36 bits VENDOR SPECIFIC IDENTIFIER, 64 bits VENDOR SPECIFIC IDENTIFIER
 *   EXTENSION. vdisk has no assigned OUI, so the company ID is a fixed locally administered value
 *   in the IEEE CID form (low nibble of the first octet 1010b: Z=1, Y=0, X=1, M=0); the 100
 *   vendor-specific bits are the first 100 bits of SHA-256 over the UUID's 16 bytes, so two
 *   volumes collide only if their hashes do.
 */
import { createHash } from 'node:crypto';
import { BlockError } from '../util/index.js';

/** Locally administered company ID in the CID form ("vdisk" has no IEEE OUI). */
export const VDISK_COMPANY_ID = 0x5a4456;

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function uuidBytes(uuid: string): Buffer {
  if (!UUID_RE.test(uuid)) throw new BlockError('INVALID', `invalid UUID '${uuid}'`);
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export interface LuIdentity {
  /** VPD 80h PRODUCT SERIAL NUMBER (ASCII). */
  serial: string;
  /** The 16-byte NAA 6h designator. */
  naa: Buffer;
}

export function luIdentity(uuid: string): LuIdentity {
  const bytes = uuidBytes(uuid);
  const h = createHash('sha256').update(bytes).digest();
  const naa = Buffer.alloc(16);
  // NAA(4) | COMPANY_ID(24) | then 100 bits of hash.
  naa[0] = 0x60 | (VDISK_COMPANY_ID >> 20);
  naa[1] = (VDISK_COMPANY_ID >> 12) & 0xff;
  naa[2] = (VDISK_COMPANY_ID >> 4) & 0xff;
  naa[3] = ((VDISK_COMPANY_ID & 0x0f) << 4) | (h[0]! >> 4);
  for (let i = 4; i < 16; i++) naa[i] = ((h[i - 4]! & 0x0f) << 4) | (h[i - 3]! >> 4);
  return { serial: bytes.toString('hex'), naa };
}
