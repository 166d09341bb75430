/**
 * block: the BlockDevice interface, the host-file leaf with cache modes and image locks, memory
 * devices, and the page-aligned buffers of the data path (read replies, write payloads).
 */
export * from './device.js';
export * from './cache-mode.js';
export * from './host-file.js';
export * from './memory.js';
export * from './image-lock.js';
export { alignedBuffer, native, pageAlignedBuffer, socketFd, type NativeHelper } from './native.js';
export * from './aio.js';
export * from './file-sender.js';
export * from './tcp-congestion.js';
export { pageAlignedSlice, releaseOf } from './page-slabs.js';
export * from './write-buffers.js';
