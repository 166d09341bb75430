/**
 * Mutex and RangeLock: ordering, exclusion, fairness and idempotent release, checked by watching
 * which promises have settled after the event loop has had a chance to run everything runnable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mutex, RangeLock } from '../../src/util/index.js';

/** Lets every pending microtask and immediate run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Wraps a promise so a test can ask whether it has resolved yet. */
function watch<T>(p: Promise<T>): { readonly done: boolean; readonly value: Promise<T> } {
  const w = { done: false, value: p };
  p.then(
    () => {
      w.done = true;
    },
    () => {
      w.done = true;
    },
  );
  return w;
}

test('Mutex grants waiters in FIFO order', async () => {
  const m = new Mutex();
  const order: number[] = [];
  const first = await m.lock();
  assert.equal(m.isLocked, true);
  const waiters = [1, 2, 3, 4, 5].map((i) =>
    m.lock().then((release) => {
      order.push(i);
      return release;
    }),
  );
  await settle();
  assert.deepEqual(order, [], 'nobody gets in while the first holder holds');
  first();
  for (let i = 0; i < waiters.length; i++) {
    const release = await waiters[i]!;
    await settle();
    assert.deepEqual(order, [1, 2, 3, 4, 5].slice(0, i + 1), 'exactly one holder at a time, in order');
    release();
  }
  assert.equal(m.isLocked, false);
});

test('Mutex release is idempotent: a second call does not admit the next-but-one waiter', async () => {
  const m = new Mutex();
  const a = await m.lock();
  const b = watch(m.lock());
  const c = watch(m.lock());
  a();
  a();
  await settle();
  assert.equal(b.done, true);
  assert.equal(c.done, false, 'C must wait until B releases');
  assert.equal(m.isLocked, true);
  (await b.value)();
  await settle();
  assert.equal(c.done, true);
  (await c.value)();
  assert.equal(m.isLocked, false);
});

test('Mutex.run serialises critical sections and releases on throw', async () => {
  const m = new Mutex();
  let inside = 0;
  let maxInside = 0;
  const body = async (i: number): Promise<number> => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    await settle();
    inside--;
    if (i === 2) throw new Error('boom');
    return i * 10;
  };
  const results = await Promise.allSettled([0, 1, 2, 3].map((i) => m.run(() => body(i))));
  assert.equal(maxInside, 1);
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    [0, 10, 'boom', 30],
  );
  assert.equal(m.isLocked, false);
});

test('RangeLock: shared holders of overlapping ranges coexist', async () => {
  const l = new RangeLock();
  const a = watch(l.acquire(0, 100, false));
  const b = watch(l.acquire(50, 150, false));
  const c = watch(l.acquire(0, 1000, false));
  await settle();
  assert.equal(a.done && b.done && c.done, true);
  assert.equal(l.size, 3);
  for (const w of [a, b, c]) (await w.value)();
  assert.equal(l.size, 0);
});

test('RangeLock: an exclusive holder excludes overlapping shared and exclusive requests', async () => {
  const l = new RangeLock();
  const x = await l.acquire(100, 200, true);
  const s = watch(l.acquire(199, 300, false)); // overlaps by one byte
  const e = watch(l.acquire(0, 101, true)); // overlaps by one byte
  await settle();
  assert.equal(s.done, false);
  assert.equal(e.done, false);
  x();
  await settle();
  assert.equal(s.done, true);
  assert.equal(e.done, true, 'the two waiters do not overlap each other');
});

test('RangeLock: a shared holder excludes an overlapping exclusive request', async () => {
  const l = new RangeLock();
  const s = await l.acquire(0, 4096, false);
  const x = watch(l.acquire(4095, 8192, true));
  await settle();
  assert.equal(x.done, false);
  s();
  await settle();
  assert.equal(x.done, true);
});

test('RangeLock: non-overlapping exclusive ranges run concurrently (ranges are half-open)', async () => {
  const l = new RangeLock();
  const a = watch(l.acquire(0, 4096, true));
  const b = watch(l.acquire(4096, 8192, true));
  const c = watch(l.acquire(8192, 8193, true));
  await settle();
  assert.equal(a.done && b.done && c.done, true);
});

test('RangeLock is FIFO among overlapping requests: later readers do not starve a waiting writer', async () => {
  const l = new RangeLock();
  const reader1 = await l.acquire(0, 100, false);
  const writer = watch(l.acquire(50, 60, true));
  const unrelated = watch(l.acquire(0, 10, false)); // does not overlap the writer: goes ahead
  const reader2 = watch(l.acquire(55, 56, false)); // compatible with reader1, but queued behind the writer
  await settle();
  assert.equal(writer.done, false);
  assert.equal(unrelated.done, true);
  assert.equal(reader2.done, false, 'a later shared request must not overtake the waiting exclusive one');
  reader1();
  await settle();
  assert.equal(writer.done, true);
  assert.equal(reader2.done, false);
  (await writer.value)();
  await settle();
  assert.equal(reader2.done, true);
});

test('RangeLock: a stream of readers cannot starve a writer', async () => {
  const l = new RangeLock();
  let writerIn = false;
  let readersAfterWriterQueued = 0;
  let writerQueued = false;
  const readers: Array<Promise<void>> = [];
  const startReader = (): void => {
    const queuedAfterWriter = writerQueued;
    readers.push(
      l.run(0, 4096, false, async () => {
        if (queuedAfterWriter && !writerIn) readersAfterWriterQueued++;
        await settle();
      }),
    );
  };
  for (let i = 0; i < 3; i++) startReader();
  writerQueued = true;
  const writer = l.run(0, 4096, true, async () => {
    writerIn = true;
  });
  for (let i = 0; i < 20; i++) startReader();
  await Promise.all([writer, ...readers]);
  assert.equal(writerIn, true);
  assert.equal(readersAfterWriterQueued, 0, 'no reader queued after the writer may enter before it');
});

test('RangeLock release is idempotent', async () => {
  const l = new RangeLock();
  const x = await l.acquire(0, 10, true);
  const a = watch(l.acquire(0, 10, true));
  const b = watch(l.acquire(0, 10, true));
  x();
  x();
  await settle();
  assert.equal(a.done, true);
  assert.equal(b.done, false, 'the second release call must not hand the range to B');
  assert.equal(l.size, 2);
  (await a.value)();
  await settle();
  assert.equal(b.done, true);
  (await b.value)();
  assert.equal(l.size, 0);
});

test('RangeLock.run releases when the body throws', async () => {
  const l = new RangeLock();
  await assert.rejects(
    l.run(0, 10, true, async () => {
      throw new Error('inside');
    }),
    /inside/,
  );
  assert.equal(l.size, 0);
  const again = watch(l.acquire(0, 10, true));
  await settle();
  assert.equal(again.done, true);
});

test('RangeLock never lets conflicting holders overlap in time (randomised)', async () => {
  // A small deterministic PRNG so a failure can be replayed.
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const l = new RangeLock();
  const active: Array<{ start: number; end: number; exclusive: boolean }> = [];
  let violations = 0;
  let granted = 0;
  const jobs: Array<Promise<void>> = [];
  for (let i = 0; i < 300; i++) {
    const start = rand(64);
    const end = start + 1 + rand(16);
    const exclusive = rand(3) === 0;
    jobs.push(
      l.run(start, end, exclusive, async () => {
        const me = { start, end, exclusive };
        for (const o of active) {
          if (o.start < end && start < o.end && (o.exclusive || exclusive)) violations++;
        }
        active.push(me);
        granted++;
        for (let k = rand(4); k > 0; k--) await new Promise<void>((r) => setImmediate(r));
        active.splice(active.indexOf(me), 1);
      }),
    );
    if (rand(4) === 0) await new Promise<void>((r) => setImmediate(r));
  }
  await Promise.all(jobs);
  assert.equal(granted, 300);
  assert.equal(violations, 0);
  assert.equal(l.size, 0);
});
