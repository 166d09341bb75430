/**
 * The text data segment of Login and Text PDUs (RFC 7143 §6.1): `key=value` pairs, each ended by
 * a NUL byte, UTF-8 text. Values follow §6.1's value forms:
 *
 * - numbers: decimal, `0x` hex or `0b` base64 (§6.1 "numerical-value"), and ranges `lo~hi`;
 * - booleans `Yes` / `No`; lists separated by commas;
 * - binary values (CHAP): `0x` hex or `0b` base64;
 * - the answers `Reject`, `Irrelevant`, `NotUnderstood` (§6.2).
 *
 * Caps, checked before anything is kept (STYLE.md convention 4): a key name of at most 63 bytes
 * (§6.1 "key-name"), a value of at most 8192 bytes (binary CHAP values of up to 1024 bytes in hex
 * need 2050), and a negotiation sequence of at most `MAX_TEXT_BYTES` (the parser of the C-bit
 * continuations enforces that one). A pair without `=`, an empty key, or a bad UTF-8 sequence is
 * a `TextFormatError`.
 */
export const MAX_KEY_LENGTH = 63;
export const MAX_VALUE_LENGTH = 8192;
/** Text of one negotiation sequence (all C-bit continuations together). */
export const MAX_TEXT_BYTES = 65536;

export type TextPairs = [key: string, value: string][];

export class TextFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TextFormatError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Splits a data segment into pairs, in order. Trailing NUL padding is allowed. */
export function decodeTextPairs(data: Buffer): TextPairs {
  const out: TextPairs = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0, start);
    if (end < 0) end = data.length; // a last pair without its NUL: tolerated, as LIO does
    if (end > start) {
      const eq = data.indexOf(0x3d, start); // '='
      if (eq < 0 || eq >= end)
        throw new TextFormatError(`a text pair without '=': ${show(data, start, end)}`);
      if (eq === start) throw new TextFormatError('a text pair with an empty key');
      if (eq - start > MAX_KEY_LENGTH) throw new TextFormatError(`a key of ${eq - start} bytes (at most 63)`);
      if (end - eq - 1 > MAX_VALUE_LENGTH) {
        throw new TextFormatError(`a value of ${end - eq - 1} bytes (at most ${MAX_VALUE_LENGTH})`);
      }
      let key: string;
      let value: string;
      try {
        key = utf8.decode(data.subarray(start, eq));
        value = utf8.decode(data.subarray(eq + 1, end));
      } catch {
        throw new TextFormatError('text that is not UTF-8');
      }
      out.push([key, value]);
    }
    start = end + 1;
  }
  return out;
}

export function encodeTextPairs(pairs: TextPairs): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/** A numerical value (§6.1): decimal, 0x hex, or 0b base64 of at most 8 bytes. */
export function parseNumber(text: string): number | undefined {
  let v: number;
  if (/^0[xX][0-9a-fA-F]{1,13}$/.test(text)) v = Number.parseInt(text.slice(2), 16);
  else if (/^(0|[1-9][0-9]{0,15})$/.test(text)) v = Number(text);
  else if (/^0[bB][A-Za-z0-9+/]+=*$/.test(text)) {
    const bytes = Buffer.from(text.slice(2), 'base64');
    if (bytes.length === 0 || bytes.length > 6) return undefined;
    v = bytes.readUIntBE(0, bytes.length);
  } else return undefined;
  return Number.isSafeInteger(v) ? v : undefined;
}

/** A binary value (§6.1 "binary-value"): 0x hex or 0b base64; undefined when malformed. */
export function parseBinary(text: string): Buffer | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) {
    const hex = text.slice(2);
    return Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex');
  }
  if (/^0[bB][A-Za-z0-9+/]+=*$/.test(text)) return Buffer.from(text.slice(2), 'base64');
  return undefined;
}

export function formatBinary(b: Buffer): string {
  return '0x' + b.toString('hex');
}

export function parseBoolean(text: string): boolean | undefined {
  return text === 'Yes' ? true : text === 'No' ? false : undefined;
}

export function formatBoolean(v: boolean): string {
  return v ? 'Yes' : 'No';
}

function show(data: Buffer, start: number, end: number): string {
  return JSON.stringify(data.subarray(start, Math.min(end, start + 40)).toString('latin1'));
}
