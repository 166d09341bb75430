/**
 * nbd: the NBD protocol (NetworkBlockDevice/nbd doc/proto.md) over the block layer. Codecs, one
 * per wire structure; incremental parsers for the two phases; the negotiation; the edge check
 * and the commands of the transmission phase; connections and the server.
 */
export * from './constants.js';
export * from './errors.js';
export * from './errno.js';
export * from './export-flags.js';
export * from './export.js';
export * from './greeting.js';
export * from './client-flags.js';
export * from './option-request.js';
export * from './option-reply.js';
export * from './info-request.js';
export * from './info-reply.js';
export * from './export-name-reply.js';
export * from './server-reply.js';
export * from './meta-context-request.js';
export * from './meta-context-reply.js';
export * from './request.js';
export * from './simple-reply.js';
export * from './structured-reply.js';
export * from './option-parser.js';
export * from './request-parser.js';
export * from './negotiation.js';
export * from './validate.js';
export * from './commands.js';
export * from './connection.js';
export * from './server.js';
export * from './tls.js';
export * from './extended-request.js';
export * from './extended-reply.js';
export * from './reply-style.js';
