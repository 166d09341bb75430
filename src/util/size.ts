/**
 * Sizes as people type them, the way qemu-img reads them: a plain number is bytes, and the
 * suffixes k, M, G, T, P, E (case-insensitive, optional trailing B, binary multiples) scale it.
 */
import { UsageError } from './errors.js';

const SUFFIX: Record<string, number> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
  e: 2 ** 60,
};

/** Parses "10G", "512M", "4k", "65536", "1.5G". Throws UsageError naming the bad text. */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpeb]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`invalid ${what} '${text}': use a number with an optional k, M, G, T suffix`);
  const mult = SUFFIX[m[2]!.toLowerCase()]!;
  const value = Number(m[1]) * mult;
  if (!Number.isFinite(value) || !Number.isSafeInteger(Math.floor(value))) {
    throw new UsageError(`invalid ${what} '${text}': too large`);
  }
  if (value !== Math.floor(value))
    throw new UsageError(`invalid ${what} '${text}': not a whole number of bytes`);
  return value;
}

/** Human-readable size in qemu-img's style: "10 GiB", "512 KiB", "1.5 MiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${bytes} B`;
  const s = v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2).replace(/\.?0+$/, '');
  return `${s} ${units[i]}`;
}
