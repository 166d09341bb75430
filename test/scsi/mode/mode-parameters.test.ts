/** The LU's mode parameters: WCE policy by cache mode, changeable masks, apply and reset. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CACHING_PAGE } from '../../../src/scsi/mode/caching.js';
import { CONTROL_PAGE } from '../../../src/scsi/mode/control.js';
import { ModeParameters } from '../../../src/scsi/mode/mode-parameters.js';

test('WCE changeable only where the cache mode can honour both settings', () => {
  const wb = new ModeParameters({ wce: true, wceChangeable: true, tas: false });
  assert.equal(wb.wce, true);
  assert.equal(wb.page(CACHING_PAGE, 'changeable')[2], 0x04);
  const wt = new ModeParameters({ wce: false, wceChangeable: false, tas: false });
  assert.equal(wt.wce, false);
  assert.equal(wt.page(CACHING_PAGE, 'changeable')[2], 0x00);
  const on = wt.page(CACHING_PAGE, 'current');
  on[2] = 0x04;
  assert.deepEqual(wt.firstUnchangeable(CACHING_PAGE, on), [2, 2]);
});

test('apply, unchanged apply, and reset to defaults', () => {
  const m = new ModeParameters({ wce: true, wceChangeable: true, tas: false });
  const ctl = m.page(CONTROL_PAGE, 'current');
  ctl[2] |= 0x04; // D_SENSE
  ctl[4] |= 0x08; // SWP
  assert.equal(m.firstUnchangeable(CONTROL_PAGE, ctl), undefined);
  assert.equal(m.apply(CONTROL_PAGE, ctl), true);
  assert.equal(m.apply(CONTROL_PAGE, ctl), false);
  assert.equal(m.dSense, true);
  assert.equal(m.swp, true);
  const tas = m.page(CONTROL_PAGE, 'current');
  tas[5] |= 0x40;
  assert.deepEqual(m.firstUnchangeable(CONTROL_PAGE, tas), [5, 6]);
  m.reset();
  assert.equal(m.dSense, false);
  assert.equal(m.swp, false);
});
