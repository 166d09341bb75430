/**
 * The data of an NBD_REP_SERVER reply to NBD_OPT_LIST (proto.md "`NBD_REP_SERVER` (2)"):
 *
 *     32 bits, length of name (unsigned); MUST be no larger than the reply length - 4
 *     String, name of the export
 *     the rest: implementation-specific details, "a string suitable for direct display to a
 *     human being" (we send the export's description there, as nbdkit does)
 */
export interface ServerReply {
  name: string;
  description: string;
}

export function encodeServerReply(r: ServerReply): Buffer {
  const name = Buffer.from(r.name, 'utf8');
  const desc = Buffer.from(r.description, 'utf8');
  const b = Buffer.alloc(4 + name.length + desc.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  desc.copy(b, 4 + name.length);
  return b;
}

export function decodeServerReply(b: Buffer): ServerReply {
  const n = b.readUInt32BE(0);
  if (n > b.length - 4) throw new RangeError(`NBD_REP_SERVER name length ${n} exceeds the reply`);
  return { name: b.toString('utf8', 4, 4 + n), description: b.toString('utf8', 4 + n) };
}
