/** util: byte codecs helpers, sizes, locks and typed errors. The bottom layer: imports nothing. */
export * from './errors.js';
export * from './size.js';
export * from './bytes.js';
export * from './locks.js';
export * from './crc32c.js';
export * from './byte-queue.js';
export * from './socket-input.js';
export * from './busy-poll.js';
