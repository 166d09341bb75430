/**
 * Mode parameter header, block descriptors, page headers and the four mode pages (SPC-4 §7.5,
 * SBC-3 §6.4): golden bytes from the spec tables and round trips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBlockDescriptor, encodeBlockDescriptor } from '../../../src/scsi/mode/block-descriptor.js';
import { decodeCachingPage, encodeCachingPage } from '../../../src/scsi/mode/caching.js';
import { decodeControlPage, encodeControlPage } from '../../../src/scsi/mode/control.js';
import { decodeModeHeader, encodeModeHeader } from '../../../src/scsi/mode/header.js';
import {
  decodeInformationalExceptionsPage,
  encodeInformationalExceptionsPage,
} from '../../../src/scsi/mode/informational-exceptions.js';
import { decodeModePageHeader, decodePage0 } from '../../../src/scsi/mode/page-header.js';
import {
  decodeReadWriteErrorRecovery,
  encodeReadWriteErrorRecovery,
} from '../../../src/scsi/mode/read-write-error-recovery.js';

test('mode parameter headers (6) and (10) golden', () => {
  const h = {
    modeDataLength: 0x23,
    mediumType: 0,
    deviceSpecific: 0x90,
    longLba: false,
    blockDescriptorLength: 8,
  };
  assert.equal(encodeModeHeader(6, h).toString('hex'), '23009008');
  assert.deepEqual(decodeModeHeader(6, encodeModeHeader(6, h)), h);
  const h10 = { ...h, modeDataLength: 0x126, longLba: true, blockDescriptorLength: 16 };
  assert.equal(encodeModeHeader(10, h10).toString('hex'), '0126009001000010');
  assert.deepEqual(decodeModeHeader(10, encodeModeHeader(10, h10)), h10);
  assert.throws(() => decodeModeHeader(10, Buffer.alloc(4)), /truncated/);
});

test('block descriptors short and long golden', () => {
  assert.equal(
    encodeBlockDescriptor(false, { numberOfBlocks: 0x8000n, blockLength: 512 }).toString('hex'),
    '0000800000000200',
  );
  assert.equal(
    encodeBlockDescriptor(false, { numberOfBlocks: 0x1_0000_0000n, blockLength: 512 }).toString('hex'),
    'ffffffff00000200',
  );
  const long = { numberOfBlocks: 0x1_0000_0000n, blockLength: 4096 };
  assert.equal(
    encodeBlockDescriptor(true, long).toString('hex'),
    '0000000100000000' + '00000000' + '00001000',
  );
  assert.deepEqual(decodeBlockDescriptor(true, encodeBlockDescriptor(true, long)), long);
});

test('page headers: page_0 and sub-page forms', () => {
  assert.deepEqual(decodeModePageHeader(Buffer.from('880a', 'hex'), 0), {
    ps: true,
    spf: false,
    pageCode: 8,
    subpageCode: 0,
    totalLength: 12,
    headerLength: 2,
  });
  assert.deepEqual(decodeModePageHeader(Buffer.from('4a01001c', 'hex'), 0), {
    ps: false,
    spf: true,
    pageCode: 0x0a,
    subpageCode: 1,
    totalLength: 32,
    headerLength: 4,
  });
  assert.throws(() => decodePage0(Buffer.from('0a02', 'hex'), 0x0a, 10), /bad length/);
});

test('read-write error recovery page golden', () => {
  const p = { flags: 0xc0, readRetryCount: 0, writeRetryCount: 0, recoveryTimeLimit: 0 };
  const b = encodeReadWriteErrorRecovery(p);
  assert.equal(b.toString('hex'), '010ac0' + '00'.repeat(9));
  assert.deepEqual(decodeReadWriteErrorRecovery(b), p);
});

test('caching page golden: WCE', () => {
  const p = {
    wce: true,
    rcd: false,
    otherFlags: 0,
    disablePrefetchTransferLength: 0xffff,
    minimumPrefetch: 0,
    maximumPrefetch: 0xffff,
    maximumPrefetchCeiling: 0xffff,
    flags12: 0,
    numberOfCacheSegments: 0x14,
  };
  const b = encodeCachingPage(p);
  assert.equal(
    b.toString('hex'),
    '0812' + '04' + '00' + 'ffff' + '0000' + 'ffff' + 'ffff' + '00' + '14' + '00'.repeat(6),
  );
  assert.deepEqual(decodeCachingPage(b), p);
});

test('control page golden: D_SENSE, QAM 1, SWP, TAS', () => {
  const p = {
    tst: 0,
    tmfOnly: false,
    dSense: true,
    gltsd: true,
    rlec: false,
    queueAlgorithmModifier: 1,
    nuar: false,
    qerr: 0,
    rac: false,
    uaIntlckCtrl: 0,
    swp: true,
    ato: false,
    tas: true,
    autoloadMode: 0,
    busyTimeoutPeriod: 0,
    extendedSelfTestCompletionTime: 0,
  };
  const b = encodeControlPage(p);
  assert.equal(b.toString('hex'), '0a0a' + '06' + '10' + '08' + '40' + '00'.repeat(6));
  assert.deepEqual(decodeControlPage(b), p);
});

test('informational exceptions page golden: DEXCPT', () => {
  const p = { flags: 0x08, mrie: 0, intervalTimer: 0, reportCount: 0 };
  const b = encodeInformationalExceptionsPage(p);
  assert.equal(b.toString('hex'), '1c0a08' + '00'.repeat(9));
  assert.deepEqual(decodeInformationalExceptionsPage(b), p);
});
