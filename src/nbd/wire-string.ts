/**
 * Strings on the NBD wire (proto.md "Conventions"): UTF-8, not NUL-terminated, MUST NOT contain
 * NUL, and MUST be no longer than 4096 bytes. Their length always comes from an enclosing field.
 */
import { NBD_MAX_STRING } from './constants.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The string in `b`, or a reason why it is not a valid NBD string. */
export function decodeWireString(b: Buffer): { ok: true; value: string } | { ok: false; why: string } {
  if (b.length > NBD_MAX_STRING) return { ok: false, why: `longer than ${NBD_MAX_STRING} bytes` };
  if (b.includes(0)) return { ok: false, why: 'contains a NUL byte' };
  try {
    return { ok: true, value: utf8.decode(b) };
  } catch {
    return { ok: false, why: 'is not valid UTF-8' };
  }
}
