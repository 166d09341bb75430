/**
 * The data of an NBD_REP_META_CONTEXT reply (proto.md "`NBD_REP_META_CONTEXT` (4)"):
 *
 *     32 bits, NBD metadata context ID
 *     String, name of the metadata context
 *
 * "The metadata context ID in these replies is reserved and SHOULD be set to zero" for
 * NBD_OPT_LIST_META_CONTEXT; NBD_OPT_SET_META_CONTEXT gives each selected context a unique ID.
 */
export interface MetaContextReply {
  id: number;
  name: string;
}

export function encodeMetaContextReply(r: MetaContextReply): Buffer {
  const name = Buffer.from(r.name, 'utf8');
  const b = Buffer.alloc(4 + name.length);
  b.writeUInt32BE(r.id, 0);
  name.copy(b, 4);
  return b;
}

export function decodeMetaContextReply(b: Buffer): MetaContextReply {
  return { id: b.readUInt32BE(0), name: b.toString('utf8', 4) };
}
