/**
 * Crash safety: a child process writes through vdisk (concurrent batches, flushes) and is killed
 * with SIGKILL at a random moment, many times. After each kill:
 * (4 KiB to 512 KiB clusters, some with extended L2 entries, some with lazy refcounts)
 * - `qemu-img check` finds no corruption (leaked clusters are possible: a cluster whose refcount
 *   was written just before the kill but whose L2 entry was not);
 * - with lazy refcounts, the next writable open rebuilds the refcounts and the image checks clean;
 * - every write acknowledged before the last acknowledged flush reads back, except where a later,
 *   unacknowledged operation may have touched the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createImage, openImage } from '../../src/formats/index.js';
import { crashBatches, CRASH_SIZE, FLUSH_EVERY, opData } from './crash-ops.js';
import { ImageModel, qemuAvailable, qemuImg, rng, seedFromEnv } from './model.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-child.js');
const KILLS = Number(process.env['VDISK_CRASH_KILLS'] ?? 50);
const skip = qemuAvailable() ? false : 'qemu-img is not installed (run scripts/setup.sh)';

interface Outcome {
  flushed: number;
  done: boolean;
}

function runAndKill(image: string, seed: number, cs: number, delayMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, image, String(seed), String(cs)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!timer && out.includes('READY')) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL' && code !== 0)
        return reject(new Error(`crash child failed (${code}): ${err}`));
      const flushes = [...out.matchAll(/FLUSHED (\d+)/g)].map((m) => Number(m[1]));
      resolve({ flushed: flushes.length ? flushes[flushes.length - 1]! : 0, done: out.includes('DONE') });
    });
  });
}

test(
  'kill -9 at random moments: no corruption, flushed writes survive',
  { skip, timeout: 300_000 },
  async () => {
    const seed = seedFromEnv();
    const rand = rng(seed);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vdisk-crash-'));
    let verifiedBytes = 0;
    let midStream = 0;
    try {
      for (let i = 0; i < KILLS; i++) {
        const lazy = i % 5 === 4;
        const extL2 = i % 5 === 2;
        const cs = extL2 ? 65536 : [4096, 65536, 512 * 1024][i % 3]!;
        const image = path.join(dir, `crash-${i}.qcow2`);
        await createImage(image, {
          format: 'qcow2',
          size: CRASH_SIZE,
          options: {
            cluster_size: String(cs),
            lazy_refcounts: lazy ? 'on' : 'off',
            extended_l2: extL2 ? 'on' : 'off',
          },
        });
        const opSeed = seed + i;
        const delay = 30 + Math.floor(rand() * 220);
        const res = await runAndKill(image, opSeed, cs, delay);
        if (!res.done && res.flushed > 0) midStream++;
        const ctx = `kill ${i} (VDISK_SEED=${seed}, cluster ${cs}, lazy ${lazy}, extended L2 ${extL2}, after ${delay} ms, ${res.flushed} batches flushed)`;

        if (!lazy) {
          const chk = qemuImg(['check', '--output=json', image]);
          assert.ok(
            chk.status === 0 || chk.status === 3,
            `${ctx}: qemu-img check found corruption: ${chk.stdout}${chk.stderr}`,
          );
        }
        // A writable open repairs a dirty (lazy refcounts) image; closing leaves it clean.
        const img = await openImage(image);
        await img.close();
        if (lazy) {
          const chk = qemuImg(['check', image]);
          assert.equal(chk.status, 0, `${ctx}: after repair: ${chk.stdout}${chk.stderr}`);
          const info = JSON.parse(qemuImg(['info', '--output=json', image]).stdout) as {
            'dirty-flag': boolean;
          };
          assert.equal(info['dirty-flag'], false, `${ctx}: dirty flag left set`);
        }

        // The flushed state, and the bytes that later (unacknowledged) ops may have changed.
        const batches = crashBatches(opSeed, cs);
        const model = new ImageModel(CRASH_SIZE, cs, undefined, true);
        const unsure = new Uint8Array(CRASH_SIZE / 512);
        batches.forEach((batch, b) => {
          for (const op of batch) {
            if (b < res.flushed) {
              if (op.kind === 'write') model.write(op.off, opData(op));
              else if (op.kind === 'zero') model.zero(op.off, op.len);
              else model.discard(op.off, op.len);
            } else {
              for (let s = Math.floor(op.off / 512); s * 512 < op.off + op.len; s++) unsure[s] = 1;
            }
          }
        });
        assert.ok(res.flushed % FLUSH_EVERY === 0);
        const ro = await openImage(image, { readOnly: true });
        const buf = Buffer.alloc(CRASH_SIZE);
        await ro.read(0, buf);
        await ro.close();
        for (let s = 0; s < unsure.length; s++) {
          if (unsure[s]) continue;
          const a = buf.subarray(s * 512, s * 512 + 512);
          const b = model.bytes.subarray(s * 512, s * 512 + 512);
          if (!a.equals(b)) assert.fail(`${ctx}: flushed data lost or changed at offset ${s * 512}`);
          verifiedBytes += 512;
        }
        fs.rmSync(image);
      }
      assert.ok(verifiedBytes > 0);
      // The kills must mostly land while I/O is in flight, after some flushes, or the test proves little.
      assert.ok(midStream >= KILLS / 2, `only ${midStream} of ${KILLS} kills landed mid-stream`);
      console.log(
        `crash test: ${midStream}/${KILLS} kills mid-stream, ${verifiedBytes} flushed bytes verified`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
