/**
 * util/busy-poll.ts: the event loop polls after activity only while requests come closer
 * together than the maximum window, grows its window up to that maximum, and stops by itself.
 * Windows here are milliseconds long, so that a loaded test machine cannot blur the timings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { BusyPoll } from '../../src/util/index.js';

const MS = 1_000_000;

/** Resolves once the poller's setImmediate chain has ended. */
async function quiet(p: BusyPoll): Promise<void> {
  for (;;) {
    const before = p.polls;
    await sleep(2 * (p.window / MS) + 2);
    if (p.polls === before) return;
  }
}

test('0 never polls', async () => {
  const p = new BusyPoll(0);
  for (let i = 0; i < 5; i++) p.activity();
  await sleep(5);
  assert.equal(p.window, 0);
  assert.equal(p.polls, 0);
});

test('activity closer than the maximum grows the window, and the loop polls for it', async () => {
  const p = new BusyPoll(200 * MS);
  p.activity(); // the first: nothing to compare with
  assert.equal(p.window, 0);
  // Each comes after the window has ended but within the maximum: a longer window would have
  // caught it, so the window doubles.
  const seen: number[] = [];
  for (let i = 0; i < 40 && p.window < 2 * MS; i++) {
    await quiet(p);
    await sleep(3);
    p.activity();
    seen.push(p.window);
  }
  assert.ok(p.window >= 2 * MS, `grew to ${p.window} (${seen.join(', ')})`);
  assert.ok(
    seen.every((w, i) => i === 0 || w >= seen[i - 1]!),
    `never shrank: ${seen.join(', ')}`,
  );
  assert.ok(p.window <= p.maxNs);
  const polls = p.polls;
  await quiet(p);
  assert.ok(p.polls > polls, 'polled through the window');
});

test('a pause longer than the maximum shrinks the window; an idle loop stops polling', async () => {
  const p = new BusyPoll(20 * MS);
  p.activity();
  for (let i = 0; i < 6; i++) {
    await sleep(1);
    p.activity();
  }
  const grown = p.window;
  assert.ok(grown > 0);
  await quiet(p);
  const polls = p.polls;
  await sleep(60); // longer than the maximum
  assert.equal(p.polls, polls, 'no polling while idle');
  p.activity();
  assert.ok(p.window < grown, `shrank from ${grown} to ${p.window}`);
  await quiet(p);
});

test('activity during a window extends it without changing it', async () => {
  const p = new BusyPoll(500 * MS);
  p.activity();
  await sleep(20);
  p.activity();
  const w = p.window;
  assert.ok(w > 0);
  p.activity(); // while polling
  assert.equal(p.window, w);
  await quiet(p);
});

/** Blocks the event loop for `ms` right after the current poll: to the poller, a preemption. */
function stallAfterPoll(ms: number): Promise<void> {
  return new Promise((resolve) =>
    setImmediate(() => {
      const end = performance.now() + ms;
      while (performance.now() < end);
      setTimeout(resolve, 2);
    }),
  );
}

test('preempted twice in a row while polling, it backs off and sleeps', async () => {
  // A preemption here is a gap of 20 ms: nothing else in the test process stalls that long.
  const p = new BusyPoll(500 * MS, 20);
  p.activity();
  for (let i = 0; i < 40 && p.window < 20 * MS; i++) {
    await quiet(p);
    await sleep(3);
    p.activity();
  }
  assert.ok(p.window >= 20 * MS, `window ${p.window}`);
  await quiet(p);
  await sleep(5);
  p.activity(); // polls again for the window
  await stallAfterPoll(30);
  assert.equal(p.preemptions, 1, 'a gap of 30 ms with nothing to do is a preemption');
  p.activity(); // one preemption is forgiven: this polls again
  const before = p.polls;
  await stallAfterPoll(30);
  assert.ok(p.polls > before, 'polled after a single preemption');
  assert.equal(p.preemptions, 2);
  // The second within 100 ms: back off. Activity now does not start polling.
  const polls = p.polls;
  p.activity();
  await sleep(10);
  assert.equal(p.polls, polls, 'no polling during the back-off');
});
