/**
 * Test support for the engine tests: a seeded PRNG and a byte-array model of a qcow2 image that
 * mirrors vdisk's documented semantics (discard affects whole clusters only; a cleared cluster
 * reads as zero, or as the backing file in a version 2 overlay).
 */
import { execFileSync, spawnSync } from 'node:child_process';

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedFromEnv(): number {
  const env = process.env['VDISK_SEED'];
  return env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

export class ImageModel {
  readonly bytes: Buffer;
  constructor(
    size: number,
    readonly clusterSize: number,
    readonly backing: Buffer | undefined,
    readonly v3: boolean,
  ) {
    this.bytes = Buffer.alloc(size);
    if (backing) backing.copy(this.bytes, 0, 0, Math.min(size, backing.length));
  }

  write(off: number, data: Buffer): void {
    data.copy(this.bytes, off);
  }

  zero(off: number, len: number): void {
    this.bytes.fill(0, off, off + len);
  }

  discard(off: number, len: number): void {
    const cs = this.clusterSize;
    const size = this.bytes.length;
    const start = Math.ceil(off / cs) * cs;
    const end = off + len === size ? size : Math.floor((off + len) / cs) * cs;
    if (start >= end) return;
    if (this.backing && !this.v3) {
      this.bytes.fill(0, start, end);
      if (start < this.backing.length)
        this.backing.copy(this.bytes, start, start, Math.min(end, this.backing.length));
    } else {
      this.bytes.fill(0, start, end);
    }
  }
}

export function qemuImg(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('qemu-img', args, { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function qemuAvailable(): boolean {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A buffer whose bytes identify the op that wrote them (so torn or misplaced data shows). */
export function pattern(op: number, len: number): Buffer {
  const b = Buffer.alloc(len + 4);
  for (let i = 0; i < len; i += 4) b.writeUInt32LE(((op * 2654435761) ^ i) >>> 0, i);
  return b.subarray(0, len);
}
