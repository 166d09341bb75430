/**
 * Cache modes, with QEMU's meaning (DESIGN.md): each name is a combination of three flags.
 *
 * | mode         | direct (O_DIRECT) | writethrough | noFlush |
 * |--------------|-------------------|--------------|---------|
 * | writeback    |                   |              |         |
 * | none         | yes               |              |         |
 * | writethrough |                   | yes          |         |
 * | directsync   | yes               | yes          |         |
 * | unsafe       |                   |              | yes     |
 */
import { UsageError } from '../util/index.js';

export const CACHE_MODES = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'] as const;
export type CacheMode = (typeof CACHE_MODES)[number];

export interface CacheFlags {
  /** Bypass the host page cache (O_DIRECT). */
  direct: boolean;
  /** Every write is durable before it completes. */
  writethrough: boolean;
  /** Flushes are ignored. */
  noFlush: boolean;
}

export function cacheFlags(mode: CacheMode): CacheFlags {
  switch (mode) {
    case 'writeback':
      return { direct: false, writethrough: false, noFlush: false };
    case 'none':
      return { direct: true, writethrough: false, noFlush: false };
    case 'writethrough':
      return { direct: false, writethrough: true, noFlush: false };
    case 'directsync':
      return { direct: true, writethrough: true, noFlush: false };
    case 'unsafe':
      return { direct: false, writethrough: false, noFlush: true };
  }
}

export function parseCacheMode(text: string): CacheMode {
  if ((CACHE_MODES as readonly string[]).includes(text)) return text as CacheMode;
  throw new UsageError(`invalid cache mode '${text}': use one of ${CACHE_MODES.join(', ')}`);
}
