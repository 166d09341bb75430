/**
 * `vdisk img convert` against qemu-img 7.2: every conversion is checked with `qemu-img compare`
 * (same guest bytes), `qemu-img check` (a clean qcow2) and `qemu-img map`/`info` (the layout we
 * promise: sparse, compressed, backed by the -B file).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { json, ok, oneLineError, qemuImg, qemuIo, tmpDir, vdisk, type RunResult } from './harness.js';

const MiB = 1024 * 1024;

interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
}

async function qio(dir: string, format: string, file: string, ...cmds: string[]): Promise<void> {
  const r = await qemuIo(dir, '-f', format, ...cmds.flatMap((c) => ['-c', c]), file);
  ok(r, `qemu-io ${cmds.join('; ')}`);
  assert.doesNotMatch(r.stdout + r.stderr, /failed|error/i);
}

async function identical(dir: string, a: string, b: string): Promise<void> {
  const r = await qemuImg(dir, 'compare', a, b);
  assert.equal(r.code, 0, `qemu-img compare ${a} ${b}: ${r.stdout}${r.stderr}`);
}

async function clean(dir: string, file: string): Promise<Record<string, number>> {
  const r = await qemuImg(dir, 'check', '--output=json', file);
  assert.equal(r.code, 0, `qemu-img check ${file}: ${r.stdout}${r.stderr}`);
  return json(r) as Record<string, number>;
}

async function info(dir: string, file: string): Promise<Record<string, unknown>> {
  return json(ok(await qemuImg(dir, 'info', '--output=json', file))) as Record<string, unknown>;
}

async function map(dir: string, file: string): Promise<MapEntry[]> {
  return json(ok(await qemuImg(dir, 'map', '--output=json', file))) as MapEntry[];
}

function convert(dir: string, ...args: string[]): Promise<RunResult> {
  return vdisk(dir, 'img', 'convert', ...args);
}

/** A 64 MiB raw image with data in a few places and explicit zeroes in one. */
async function scatteredRaw(dir: string, name: string): Promise<void> {
  ok(await qemuImg(dir, 'create', '-f', 'raw', name, '64M'));
  await qio(
    dir,
    'raw',
    name,
    'write -P 0x11 1M 3M',
    'write -P 0x22 40M 64k',
    'write -z 50M 1M',
    'write -P 0x33 63M 1M',
  );
}

describe('vdisk img convert', { concurrency: true }, () => {
  const dir = tmpDir();

  test('raw -> qcow2 -> raw keeps the bytes and stays sparse', async () => {
    await scatteredRaw(dir, 'a.raw');
    ok(await convert(dir, '-f', 'raw', '-O', 'qcow2', 'a.raw', 'a.qcow2'));
    await identical(dir, 'a.raw', 'a.qcow2');
    const c = await clean(dir, 'a.qcow2');
    assert.equal(c['allocated-clusters'], (3 * MiB + 64 * 1024 + MiB) / 65536, 'only the data is allocated');
    ok(await convert(dir, '-O', 'raw', 'a.qcow2', 'back.raw'));
    await identical(dir, 'a.raw', 'back.raw');
    assert.equal(fs.statSync(path.join(dir, 'back.raw')).size, 64 * MiB);
    const m = await map(dir, 'back.raw');
    const data = m.filter((e) => e.data).reduce((n, e) => n + e.length, 0);
    assert.equal(data, 3 * MiB + 64 * 1024 + MiB, 'holes where the source had none');
  });

  test('a mostly empty 1 GiB image converts into a small file, both ways', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'raw', 'big.raw', '1G'));
    await qio(dir, 'raw', 'big.raw', 'write -P 0x5a 100M 1M', 'write -P 0x5b 900M 64k');
    ok(await convert(dir, '-O', 'qcow2', 'big.raw', 'big.qcow2'));
    await identical(dir, 'big.raw', 'big.qcow2');
    const q = await info(dir, 'big.qcow2');
    assert.equal(q['virtual-size'], 1024 * MiB);
    assert.ok((q['actual-size'] as number) < 2 * MiB, `qcow2 actual-size ${q['actual-size']}`);
    ok(await convert(dir, '-O', 'raw', 'big.qcow2', 'big2.raw'));
    await identical(dir, 'big.qcow2', 'big2.raw');
    const r = await info(dir, 'big2.raw');
    assert.equal(r['virtual-size'], 1024 * MiB);
    assert.ok((r['actual-size'] as number) < 2 * MiB, `raw actual-size ${r['actual-size']}`);
  });

  for (const ctype of ['zlib', 'zstd']) {
    test(`-c writes ${ctype}-compressed clusters qemu reads`, async () => {
      const src = `c-${ctype}.raw`;
      const dst = `c-${ctype}.qcow2`;
      ok(await qemuImg(dir, 'create', '-f', 'raw', src, '8M'));
      // Compressible text-like data, random-ish data, and a short tail cluster.
      await qio(dir, 'raw', src, 'write -P 0x41 0 1M', 'write -P 0x42 3M 100k');
      fs.appendFileSync(path.join(dir, src), Buffer.alloc(1000, 0x43)); // not a whole cluster
      ok(await convert(dir, '-c', '-O', 'qcow2', '-o', `compression_type=${ctype}`, src, dst));
      await identical(dir, src, dst);
      const c = await clean(dir, dst);
      assert.ok((c['compressed-clusters'] ?? 0) > 0, `compressed clusters: ${JSON.stringify(c)}`);
      const q = await info(dir, dst);
      const spec = (q['format-specific'] as { data: Record<string, unknown> }).data;
      assert.equal(spec['compression-type'], ctype);
      const m = await map(dir, dst);
      const compressed = m.filter((e) => e.data && e.offset === undefined);
      assert.ok(compressed.length > 0, 'qemu-img map shows compressed clusters as data without an offset');
      assert.ok((q['actual-size'] as number) < 1 * MiB, `compressed size ${q['actual-size']}`);
    });
  }

  test('a backing chain is flattened; -B keeps only what differs from the backing file', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', 'base.qcow2', '64M'));
    await qio(dir, 'qcow2', 'base.qcow2', 'write -P 1 0 4M', 'write -P 2 10M 1M');
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'));
    await qio(dir, 'qcow2', 'top.qcow2', 'write -P 3 1M 1M', 'write -z 10M 512k', 'write -P 5 20M 100k');

    ok(await convert(dir, '-O', 'qcow2', 'top.qcow2', 'flat.qcow2'));
    await identical(dir, 'top.qcow2', 'flat.qcow2');
    await clean(dir, 'flat.qcow2');
    assert.equal((await info(dir, 'flat.qcow2'))['backing-filename'], undefined);

    ok(await convert(dir, '-O', 'qcow2', '-B', 'base.qcow2', '-F', 'qcow2', 'top.qcow2', 'ov.qcow2'));
    await identical(dir, 'top.qcow2', 'ov.qcow2');
    await clean(dir, 'ov.qcow2');
    const i = await info(dir, 'ov.qcow2');
    assert.equal(i['backing-filename'], 'base.qcow2');
    assert.equal(i['backing-filename-format'], 'qcow2');
    // The overlay allocates exactly what qemu-img's own -B conversion allocates.
    ok(
      await qemuImg(
        dir,
        'convert',
        '-O',
        'qcow2',
        '-B',
        'base.qcow2',
        '-F',
        'qcow2',
        'top.qcow2',
        'ovq.qcow2',
      ),
    );
    const strip = (m: MapEntry[]): unknown[] => m.map(({ offset: _o, ...e }) => e);
    assert.deepEqual(strip(await map(dir, 'ov.qcow2')), strip(await map(dir, 'ovq.qcow2')));
  });

  test('several sources are concatenated as qemu-img concatenates them', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'qcow2', 'p1.qcow2', '3M'));
    await qio(dir, 'qcow2', 'p1.qcow2', 'write -P 7 0 1M');
    ok(await qemuImg(dir, 'create', '-f', 'raw', 'p2.raw', '1000000')); // not a multiple of 512
    await qio(dir, 'raw', 'p2.raw', 'write -P 8 0 999936');
    ok(await qemuImg(dir, 'create', '-f', 'raw', 'p3.raw', '2M'));
    await qio(dir, 'raw', 'p3.raw', 'write -P 9 1M 1M');
    ok(await convert(dir, '-O', 'raw', 'p1.qcow2', 'p2.raw', 'p3.raw', 'cat.raw'));
    ok(await qemuImg(dir, 'convert', '-O', 'raw', 'p1.qcow2', 'p2.raw', 'p3.raw', 'catq.raw'));
    assert.ok(fs.readFileSync(path.join(dir, 'cat.raw')).equals(fs.readFileSync(path.join(dir, 'catq.raw'))));
    ok(await convert(dir, '-O', 'qcow2', '-c', 'p1.qcow2', 'p2.raw', 'p3.raw', 'cat.qcow2'));
    await identical(dir, 'catq.raw', 'cat.qcow2');
    await clean(dir, 'cat.qcow2');
  });

  test('-n writes into an existing image, zeroing what the source does not have', async () => {
    await scatteredRaw(dir, 'n.raw');
    for (const [fmt, name] of [
      ['qcow2', 'n-old.qcow2'],
      ['raw', 'n-old.raw'],
    ] as const) {
      ok(await qemuImg(dir, 'create', '-f', fmt, name, '80M'));
      await qio(dir, fmt, name, 'write -P 0xee 0 80M');
      ok(await convert(dir, '-n', '-O', fmt, 'n.raw', name));
      const r = await qemuImg(dir, 'compare', 'n.raw', name);
      assert.equal(r.code, 0, `${name}: ${r.stdout}`);
      assert.match(r.stdout, /Image size mismatch/);
      if (fmt === 'qcow2') await clean(dir, name);
    }
  });

  test('-S: zero runs inside data become holes when long enough; -S 0 allocates everything', async () => {
    ok(await qemuImg(dir, 'create', '-f', 'raw', 's.raw', '1M'));
    // 64k data, 8k of written zeroes, 64k data, then nothing.
    await qio(dir, 'raw', 's.raw', 'write -P 1 0 64k', 'write -P 0 64k 8k', 'write -P 2 72k 64k');
    const holes = async (name: string): Promise<number> =>
      (await map(dir, name)).filter((e) => !e.data).reduce((n, e) => n + e.length, 0);
    ok(await convert(dir, 's.raw', 's4.raw'));
    assert.equal(await holes('s4.raw'), 8192 + (1024 - 136) * 1024, 'the 8k zero run is a hole');
    ok(await convert(dir, '-S', '16k', 's.raw', 's16.raw'));
    assert.equal(await holes('s16.raw'), (1024 - 136) * 1024, 'an 8k run is shorter than -S 16k');
    ok(await convert(dir, '-S', '0', 's.raw', 's0.raw'));
    assert.equal(await holes('s0.raw'), 0, '-S 0 fully allocates');
    for (const f of ['s4.raw', 's16.raw', 's0.raw']) await identical(dir, 's.raw', f);
  });

  test('-m 1, -m 16 -W and -p give the same image; -p prints qemu-img progress lines', async () => {
    await scatteredRaw(dir, 'w.raw');
    ok(await convert(dir, '-m', '1', '-O', 'qcow2', 'w.raw', 'w1.qcow2'));
    ok(await convert(dir, '-m', '16', '-W', '-O', 'qcow2', 'w.raw', 'w16.qcow2'));
    const p = ok(await convert(dir, '-p', '-O', 'qcow2', 'w.raw', 'wp.qcow2'));
    const q = ok(await qemuImg(dir, 'convert', '-p', '-O', 'qcow2', 'w.raw', 'wq.qcow2'));
    assert.equal(p.stdout, q.stdout, 'the same progress lines as qemu-img');
    assert.match(p.stdout, /^ {4}\(0\.00\/100%\)\r.* {4}\(100\.00\/100%\)\r\n$/s);
    for (const f of ['w1.qcow2', 'w16.qcow2', 'wp.qcow2']) {
      await identical(dir, 'w.raw', f);
      await clean(dir, f);
    }
    assert.equal(ok(await convert(dir, '-q', '-p', 'w.raw', 'wq.raw')).stdout, '');
  });

  test('vmdk: every subformat as a target, and a qemu-made vmdk as a source', async () => {
    await scatteredRaw(dir, 'v.raw');
    const subformats = ['monolithicSparse', 'monolithicFlat', 'twoGbMaxExtentSparse', 'streamOptimized'];
    for (const sf of subformats) {
      ok(await convert(dir, '-O', 'vmdk', '-o', `subformat=${sf}`, 'v.raw', `v-${sf}.vmdk`), sf);
      await identical(dir, 'v.raw', `v-${sf}.vmdk`);
    }
    // -W cannot reorder a streamOptimized image, which is written front to back.
    ok(
      await convert(
        dir,
        '-W',
        '-m',
        '16',
        '-O',
        'vmdk',
        '-o',
        'subformat=streamOptimized',
        'v.raw',
        'vw.vmdk',
      ),
    );
    await identical(dir, 'v.raw', 'vw.vmdk');
    ok(await qemuImg(dir, 'convert', '-O', 'vmdk', 'v.raw', 'vq.vmdk'));
    ok(await convert(dir, '-O', 'qcow2', 'vq.vmdk', 'vq.qcow2'));
    await identical(dir, 'v.raw', 'vq.qcow2');
    await clean(dir, 'vq.qcow2');
  });

  test('creation options reach the target', async () => {
    await scatteredRaw(dir, 'o.raw');
    ok(await convert(dir, '-O', 'qcow2', '-o', 'cluster_size=4k,compat=0.10', 'o.raw', 'o.qcow2'));
    const i = await info(dir, 'o.qcow2');
    assert.equal(i['cluster-size'], 4096);
    assert.equal((i['format-specific'] as { data: Record<string, unknown> }).data['compat'], '0.10');
    await identical(dir, 'o.raw', 'o.qcow2');
    await clean(dir, 'o.qcow2');
  });

  test('bad arguments: one line and a non-zero exit', async () => {
    await scatteredRaw(dir, 'e.raw');
    oneLineError(await convert(dir, 'e.raw'), /Must specify image file name/);
    oneLineError(await convert(dir, '-O', 'vhdx', 'e.raw', 'x.img'), /unknown image format 'vhdx'/);
    oneLineError(await convert(dir, '-c', '-O', 'raw', 'e.raw', 'x.raw'), /Compression not supported/);
    assert.equal(fs.existsSync(path.join(dir, 'x.raw')), false, 'nothing created');
    oneLineError(await convert(dir, '-m', '17', 'e.raw', 'x.raw'), /number of coroutines/);
    oneLineError(await convert(dir, '-S', '1000', 'e.raw', 'x.raw'), /Invalid buffer size for sparse output/);
    oneLineError(await convert(dir, '-S', '12Q', 'e.raw', 'x.raw'), /invalid buffer size/);
    oneLineError(await convert(dir, '-n', '-o', 'a=b', 'e.raw', 'x.raw'), /-o has no effect/);
    oneLineError(await convert(dir, '--target-is-zero', 'e.raw', 'x.raw'), /requires use of -n/);
    oneLineError(
      await convert(dir, '-B', 'e.raw', '-O', 'qcow2', 'e.raw', 'x.qcow2'),
      /explicit backing format/,
    );
    oneLineError(
      await convert(dir, '-B', 'e.raw', '-F', 'raw', '-O', 'qcow2', 'e.raw', 'e.raw', 'x.qcow2'),
      /concatenating multiple input images/,
    );
    oneLineError(await convert(dir, 'nope.raw', 'x.raw'), /nope\.raw/);
    oneLineError(await convert(dir, 'e.raw', 'e.raw'), /also a source/);
    oneLineError(await convert(dir, '-n', 'e.raw', 'missing.raw'), /missing\.raw/);
    ok(await qemuImg(dir, 'create', '-f', 'raw', 'tiny.raw', '1M'));
    oneLineError(await convert(dir, '-n', 'e.raw', 'tiny.raw'), /output file is smaller than input file/);
    oneLineError(await convert(dir, '-t', 'fast', 'e.raw', 'x.raw'), /invalid cache mode 'fast'/);
    assert.match(ok(await vdisk(dir, 'img', 'convert', '--help')).stdout, /--sparse-size/);
  });
});
