/**
 * The data of NBD_OPT_INFO and NBD_OPT_GO (proto.md "`NBD_OPT_INFO` (6) and `NBD_OPT_GO` (7)"):
 *
 *     32 bits, length of name (unsigned); MUST be no larger than the option data length - 6
 *     String: name of the export
 *     16 bits, number of information requests
 *     16 bits x n - list of NBD_INFO information requests
 *
 * A request whose lengths do not add up to the option's length is syntactically invalid
 * (NBD_REP_ERR_INVALID). Duplicate and unknown information requests are kept as sent: "The
 * server MUST ignore any information requests it does not understand."
 */
import { NBD_REP } from './constants.js';
import { OptionError } from './errors.js';
import { decodeWireString } from './wire-string.js';

export interface InfoRequest {
  name: string;
  /** NBD_INFO_* types, in the order the client listed them. */
  requests: number[];
}

export function decodeInfoRequest(data: Buffer): InfoRequest {
  if (data.length < 6) throw invalid(`the data is ${data.length} bytes, at least 6 are needed`);
  const nameLength = data.readUInt32BE(0);
  if (nameLength > data.length - 6) {
    throw invalid(`the name length ${nameLength} exceeds the option data`);
  }
  const name = decodeWireString(data.subarray(4, 4 + nameLength));
  if (!name.ok) throw invalid(`the export name ${name.why}`);
  const count = data.readUInt16BE(4 + nameLength);
  const expected = 4 + nameLength + 2 + 2 * count;
  if (data.length !== expected) {
    throw invalid(`${count} information requests need ${expected} bytes of data, not ${data.length}`);
  }
  const requests: number[] = [];
  for (let i = 0; i < count; i++) requests.push(data.readUInt16BE(4 + nameLength + 2 + 2 * i));
  return { name: name.value, requests };
}

export function encodeInfoRequest(r: InfoRequest): Buffer {
  const name = Buffer.from(r.name, 'utf8');
  const b = Buffer.alloc(4 + name.length + 2 + 2 * r.requests.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  b.writeUInt16BE(r.requests.length, 4 + name.length);
  r.requests.forEach((t, i) => b.writeUInt16BE(t, 4 + name.length + 2 + 2 * i));
  return b;
}

function invalid(why: string): OptionError {
  return new OptionError(NBD_REP.ERR_INVALID, `malformed NBD_OPT_INFO/NBD_OPT_GO: ${why}`);
}
