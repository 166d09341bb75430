/**
 * iSCSI TransportIDs (SPC-4 §7.6.4.6, Tables 389-391): how PERSISTENT RESERVE IN READ FULL STATUS
 * names an initiator port, and how PERSISTENT RESERVE OUT (SPEC_I_PT, REGISTER AND MOVE) names
 * the initiator ports it acts on.
 *
 *   byte 0     FORMAT CODE (7..6) | reserved (5..4) | PROTOCOL IDENTIFIER (3..0) = 5h (iSCSI)
 *   byte 1     reserved
 *   bytes 2..3 ADDITIONAL LENGTH (n - 3): "at least 20 and a multiple of four"
 *   format 00b (initiator device):  bytes 4..n  ISCSI NAME, null-terminated and null-padded
 *   format 01b (initiator port):    ISCSI NAME, SEPARATOR ",i,0x", ISCSI INITIATOR SESSION ID
 *                                   (the ISID as 12 hex digits), null-terminated and null-padded
 *
 * Decoding checks ADDITIONAL LENGTH against the bytes present and against MAX_TRANSPORT_ID_LENGTH
 * before reading, and reports failures as PrCodecError with the offending byte. Names compare
 * case-insensitively (RFC 3722 names are case-folded), ISIDs as lowercase hex.
 */
import { PrCodecError } from './codec-error.js';

/** SPC-4 Table 362: PROTOCOL IDENTIFIER of iSCSI. */
export const ISCSI_PROTOCOL_ID = 0x5;
/** The shortest TransportID (4-byte header + 20). */
export const MIN_TRANSPORT_ID_LENGTH = 24;
/** iSCSI names are at most 223 bytes (RFC 7143 §4.2.7.1); with separator, ISID and padding: 248. */
export const MAX_TRANSPORT_ID_LENGTH = 248;
const MAX_ISCSI_NAME = 223;
const SEPARATOR = ',i,0x';

export type TransportId =
  /** Format 00b: the iSCSI initiator device (every initiator port of that name). */
  | { readonly format: 'device'; readonly name: string }
  /** Format 01b: one initiator port (name + ISID). */
  | { readonly format: 'port'; readonly name: string; readonly isid: string };

/** Normalises an ISID given as hex digits (any case, with or without 0x) to 12 lowercase digits. */
export function normaliseIsid(s: string): string | undefined {
  const hex = s.toLowerCase().replace(/^0x/, '');
  return /^[0-9a-f]{1,12}$/.test(hex) ? hex.padStart(12, '0') : undefined;
}

/**
 * Splits an iSCSI initiator port name `<name>,i,0x<ISID>` (task.ts) into its parts; a name
 * without the separator is an initiator device name.
 */
export function parseInitiatorPort(port: string): TransportId {
  const at = port.toLowerCase().lastIndexOf(SEPARATOR);
  if (at > 0) {
    const isid = normaliseIsid(port.slice(at + SEPARATOR.length));
    if (isid) return { format: 'port', name: port.slice(0, at).toLowerCase(), isid };
  }
  return { format: 'device', name: port.toLowerCase() };
}

/** The TransportID's text form, for logs and as a map key: `name` or `name,i,0x<isid>`. */
export function transportIdText(t: TransportId): string {
  return t.format === 'port' ? `${t.name}${SEPARATOR}${t.isid}` : t.name;
}

function padded(len: number): number {
  return Math.max(20, (len + 3) & ~3);
}

export function encodeTransportId(t: TransportId): Buffer {
  const text = Buffer.from(transportIdText(t), 'utf8');
  const body = padded(text.length + 1); // at least one NUL terminator
  const b = Buffer.alloc(4 + body);
  b[0] = ((t.format === 'port' ? 1 : 0) << 6) | ISCSI_PROTOCOL_ID;
  b.writeUInt16BE(body, 2);
  text.copy(b, 4);
  return b;
}

/** Decodes one TransportID at the start of `b`; returns it and its length in bytes. */
export function decodeTransportId(b: Buffer): { id: TransportId; length: number } {
  if (b.length < 4) throw new PrCodecError('length', 0, 'TransportID header truncated');
  const protocol = b[0]! & 0x0f;
  const format = b[0]! >> 6;
  if (protocol !== ISCSI_PROTOCOL_ID)
    throw new PrCodecError('field', 0, `TransportID protocol ${protocol} is not iSCSI`, 3);
  if (format > 1) throw new PrCodecError('field', 0, `iSCSI TransportID format ${format}`, 7);
  const additional = b.readUInt16BE(2);
  if (4 + additional > MAX_TRANSPORT_ID_LENGTH)
    throw new PrCodecError('field', 2, `TransportID length ${4 + additional} exceeds the cap`);
  if (4 + additional > b.length) throw new PrCodecError('length', 2, 'TransportID truncated');
  const field = b.subarray(4, 4 + additional);
  const nul = field.indexOf(0);
  const text = field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
  let id: TransportId;
  if (format === 0) {
    if (text.includes(SEPARATOR)) throw new PrCodecError('field', 4, 'format 00b TransportID names a port');
    id = { format: 'device', name: text.toLowerCase() };
  } else {
    const at = text.toLowerCase().lastIndexOf(SEPARATOR);
    if (at < 0) throw new PrCodecError('field', 4, 'format 01b TransportID without ",i,0x"');
    const isid = normaliseIsid(text.slice(at + SEPARATOR.length));
    if (!isid || text.length - at - SEPARATOR.length !== 12)
      throw new PrCodecError('field', 4 + at + SEPARATOR.length, 'bad ISCSI INITIATOR SESSION ID');
    id = { format: 'port', name: text.slice(0, at).toLowerCase(), isid };
  }
  if (id.name.length === 0 || Buffer.byteLength(id.name) > MAX_ISCSI_NAME)
    throw new PrCodecError('field', 4, 'bad ISCSI NAME length');
  return { id, length: 4 + additional };
}
