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
  // A unit letter may be followed by "B" or "iB" ("10G", "10GB", "10GiB"); bytes are "B" alone.
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgtpe])(?:i?b)?|b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`invalid ${what} '${text}': use a number with an optional k, M, G, T suffix`);
  const mult = SUFFIX[(m[2] ?? '').toLowerCase()]!;
  const value = Number(m[1]) * mult;
  if (!Number.isFinite(value) || !Number.isSafeInteger(Math.floor(value))) {
    throw new UsageError(`invalid ${what} '${text}': too large`);
  }
  if (value !== Math.floor(value))
    throw new UsageError(`invalid ${what} '${text}': not a whole number of bytes`);
  return value;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/**
 * Human-readable size exactly as qemu-img prints it (QEMU's util/cutils.c size_to_str): the unit
 * switches up once the value reaches 1000 of the current one, and the number is printf's "%0.3g"
 * (three significant digits, trailing zeros dropped, ties rounded to even): "0 B", "512 B",
 * "1.5 KiB", "100 KiB", "0.977 MiB", "1.12 GiB", "1e+03 KiB".
 */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) return `${bytes} B`;
  let i = 0;
  // QEMU: frexp(val / (1000.0 / 1024.0), &e); i = (e - 1) / 10. Both sides are exact doubles.
  while (i < UNITS.length - 1 && bytes * 1024 >= 1000 * 2 ** (10 * (i + 1))) i++;
  return `${formatG3(BigInt(bytes), 1n << BigInt(10 * i))} ${UNITS[i]}`;
}

/** printf("%0.3g", num / den) for a non-negative exact fraction, computed without rounding error. */
function formatG3(num: bigint, den: bigint): string {
  const P = 3;
  if (num === 0n) return '0';
  // Decimal exponent e with 10^e <= num/den < 10^(e+1).
  const atLeastPow10 = (k: number): boolean =>
    k >= 0 ? num >= den * 10n ** BigInt(k) : num * 10n ** BigInt(-k) >= den;
  let e = 0;
  while (atLeastPow10(e + 1)) e++;
  while (!atLeastPow10(e)) e--;
  // Round to P significant digits, ties to even: digits = round(num/den * 10^(P-1-e)).
  const shift = P - 1 - e;
  const n = shift >= 0 ? num * 10n ** BigInt(shift) : num;
  const d = shift >= 0 ? den : den * 10n ** BigInt(-shift);
  let digits = n / d;
  const twice = (n % d) * 2n;
  if (twice > d || (twice === d && digits % 2n === 1n)) digits++;
  if (digits === 10n ** BigInt(P)) {
    digits /= 10n;
    e++;
  }
  const s = digits.toString();
  if (e < -4 || e >= P) {
    const mant = dropTrailingZeros(s[0]! + '.' + s.slice(1));
    return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const fixed = e >= 0 ? s.slice(0, e + 1) + '.' + s.slice(e + 1) : '0.' + '0'.repeat(-e - 1) + s;
  return dropTrailingZeros(fixed);
}

/** "1.50" -> "1.5", "1.00" -> "1", "100." -> "100" (only zeros after a decimal point go). */
function dropTrailingZeros(s: string): string {
  return s.replace(/0+$/, '').replace(/\.$/, '');
}
