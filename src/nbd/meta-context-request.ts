/**
 * The data of NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT (proto.md "Option types"):
 *
 *     32 bits, length of export name
 *     String, name of export
 *     32 bits, number of queries
 *     Zero or more queries, each being:
 *        32 bits, length of query
 *        String, query
 *
 * "If the option request is syntactically invalid (such as a query length that would require
 * reading beyond the original length given in the option header), the server MUST fail the
 * request with NBD_REP_ERR_INVALID."
 */
import { NBD_REP } from './constants.js';
import { OptionError } from './errors.js';
import { decodeWireString } from './wire-string.js';

export interface MetaContextRequest {
  name: string;
  queries: string[];
}

export function decodeMetaContextRequest(data: Buffer, what: string): MetaContextRequest {
  const invalid = (why: string): OptionError =>
    new OptionError(NBD_REP.ERR_INVALID, `malformed ${what}: ${why}`);
  let at = 0;
  const u32 = (field: string): number => {
    if (at + 4 > data.length) throw invalid(`the data ends before the ${field}`);
    const v = data.readUInt32BE(at);
    at += 4;
    return v;
  };
  const str = (length: number, field: string): string => {
    if (length > data.length - at) throw invalid(`the ${field} length ${length} exceeds the option data`);
    const s = decodeWireString(data.subarray(at, at + length));
    if (!s.ok) throw invalid(`the ${field} ${s.why}`);
    at += length;
    return s.value;
  };
  const name = str(u32('export name length'), 'export name');
  const count = u32('number of queries');
  // Each query takes at least its 4-byte length: a count that cannot fit is rejected before
  // anything is allocated for it.
  if (count > (data.length - at) / 4) throw invalid(`${count} queries cannot fit in the option data`);
  const queries: string[] = [];
  for (let i = 0; i < count; i++) queries.push(str(u32('query length'), 'query'));
  if (at !== data.length) throw invalid(`${data.length - at} bytes follow the last query`);
  return { name, queries };
}

export function encodeMetaContextRequest(r: MetaContextRequest): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  };
  const name = Buffer.from(r.name, 'utf8');
  parts.push(u32(name.length), name, u32(r.queries.length));
  for (const q of r.queries) {
    const qb = Buffer.from(q, 'utf8');
    parts.push(u32(qb.length), qb);
  }
  return Buffer.concat(parts);
}
