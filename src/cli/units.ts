/**
 * Numbers as qemu-img and qemu-io print them, so that people and scripts used to QEMU's output
 * read ours the same way:
 *
 * - `sizeToStr`: qemu-img's `size_to_str` (util/cutils.c), "%0.3g" in the largest binary unit
 *   whose value stays below 1000: "1 GiB", "196 KiB", "1.5 MiB", "0.977 KiB".
 * - `cvtstr`: qemu-io's `cvtstr` (qemu-io-cmds.c), "%.3f" with a ".000" tail trimmed:
 *   "64 KiB", "85.933 MiB", "512 bytes".
 * - `timestr`: qemu-io's elapsed time, "00.00 sec" below one second, "h:mm:ss.ss" above.
 * - `hexLeft16`: C's "%#-16" PRIx64 (qemu-img map's human columns): "0x1000" padded, "0" for 0.
 *
 * C's printf rounds an exact tie to even ("%.3f" of 2.0625 is "2.062"); JavaScript's toFixed
 * rounds it up. `cFixed` is toFixed with C's rounding, and every formatter here uses it.
 */

/** C's "%.<digits>f". toFixed picks the nearest decimal exactly, except that ties go up. */
export function cFixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  // The double's exact decimal expansion, far enough to see whether it is exactly a tie.
  const exact = x.toFixed(Math.min(100, digits + 30));
  const tail = exact.slice(exact.length - 30);
  if (!/^50*$/.test(tail)) return s;
  const down = exact.slice(0, exact.length - 30).replace(/\.$/, '');
  return Number(down[down.length - 1]) % 2 === 0 ? down : s;
}

const QEMU_SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** C's "%0.3g" for the values size_to_str produces (0 <= v < 1000). */
function g3(v: number): string {
  if (v === 0) return '0';
  const digits = Math.max(0, 2 - Math.floor(Math.log10(v)));
  const s = cFixed(v, digits);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

export function sizeToStr(bytes: number): string {
  // frexp(val / (1000 / 1024)) gives the exponent e with 2^(e-1) <= x < 2^e.
  const x = bytes / (1000 / 1024);
  const e = x === 0 ? 0 : Math.floor(Math.log2(x)) + 1;
  const i = Math.min(QEMU_SUFFIXES.length - 1, Math.max(0, Math.trunc((e - 1) / 10)));
  return `${g3(bytes / 2 ** (i * 10))} ${QEMU_SUFFIXES[i]}B`;
}

const CVT_UNITS: Array<[number, string]> = [
  [2 ** 60, ' EiB'],
  [2 ** 50, ' PiB'],
  [2 ** 40, ' TiB'],
  [2 ** 30, ' GiB'],
  [2 ** 20, ' MiB'],
  [2 ** 10, ' KiB'],
];

function trimZeroes(text: string, suffix: string): string {
  const i = text.indexOf('.000');
  return i >= 0 ? text.slice(0, i) + suffix : text + suffix;
}

export function cvtstr(value: number): string {
  for (const [mult, suffix] of CVT_UNITS) {
    if (value >= mult) return trimZeroes(cFixed(value / mult, 3), suffix);
  }
  return trimZeroes(cFixed(value, 6), ' bytes');
}

export function timestr(seconds: number): string {
  const whole = Math.floor(seconds);
  const frac = seconds - whole;
  if (whole === 0) return `${cFixed(frac, 2).padStart(5, '0')} sec`;
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = (whole % 60) + frac;
  return `${h}:${String(m).padStart(2, '0')}:${cFixed(s, 2).padStart(5, '0')}`;
}

export function hexLeft16(n: number): string {
  return (n === 0 ? '0' : `0x${n.toString(16)}`).padEnd(16);
}
