/**
 * Login negotiation (login.ts, operational-keys.ts, chap.ts) driven directly, PDU by PDU: each
 * operational key's rule (min, max, OR, AND, list, declarative; Reject / Irrelevant /
 * NotUnderstood answers), the stage machine, the status of every failure, and CHAP (one-way,
 * mutual, wrong secret, reflected challenge, configuration checks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  answerOperationalKey,
  chapResponse,
  checkChapCredentials,
  DEFAULT_PARAMS,
  DEFAULT_TARGET_LIMITS,
  encodeTextPairs,
  decodeTextPairs,
  Login,
  LOGIN_STATUS,
  makeTarget,
  parseBinary,
  STAGE,
  type IscsiTarget,
  type LoginRequestPdu,
  type LoginStep,
  type TextPairs,
} from '../../src/iscsi/index.js';
import { FakeRouter, INITIATOR, TARGET } from './helpers.js';

function target(extra: Partial<Parameters<typeof makeTarget>[0]> = {}): IscsiTarget {
  return makeTarget({ name: TARGET, router: new FakeRouter(16), alias: 'disk one', tpgt: 3, ...extra });
}

function req(o: Partial<LoginRequestPdu>): LoginRequestPdu {
  return {
    transit: true,
    continue: false,
    csg: STAGE.SECURITY,
    nsg: STAGE.OPERATIONAL,
    versionMax: 0,
    versionMin: 0,
    dataSegmentLength: 0,
    isid: 0x400001370000,
    tsih: 0,
    itt: 1,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    ...o,
  };
}

function step(
  l: Login,
  o: Partial<LoginRequestPdu>,
  pairs: TextPairs,
): LoginStep & { keys: Map<string, string> } {
  const s = l.handle(req(o), encodeTextPairs(pairs));
  return { ...s, keys: new Map(decodeTextPairs(s.data)) };
}

const LEADING: TextPairs = [
  ['InitiatorName', INITIATOR],
  ['TargetName', TARGET],
  ['SessionType', 'Normal'],
  ['AuthMethod', 'None'],
];

function login(t = target()): Login {
  return new Login({ findTarget: (n) => (n === t.name ? t : undefined), limits: DEFAULT_TARGET_LIMITS });
}

test('operational keys: each key answered by its RFC 7143 §13 rule', () => {
  const cases: [string, string, string | undefined][] = [
    ['HeaderDigest', 'CRC32C,None', 'CRC32C'],
    ['HeaderDigest', 'None,CRC32C', 'None'],
    ['DataDigest', 'MD5', 'Reject'],
    ['MaxConnections', '8', '1'],
    ['MaxConnections', '0', 'Reject'],
    ['InitialR2T', 'Yes', 'Yes'], // OR
    ['InitialR2T', 'No', 'No'], // OR with our No
    ['ImmediateData', 'No', 'No'], // AND
    ['ImmediateData', 'Yes', 'Yes'],
    ['ImmediateData', 'maybe', 'Reject'],
    ['MaxRecvDataSegmentLength', '65536', undefined], // declarative: no answer
    ['MaxRecvDataSegmentLength', '100', 'Reject'],
    ['MaxBurstLength', '1048576', '1048576'], // min
    ['MaxBurstLength', '99999999', 'Reject'],
    ['FirstBurstLength', '1048576', '262144'], // min with ours
    ['DefaultTime2Wait', '0', '2'], // max
    ['DefaultTime2Retain', '20', '0'], // min
    ['MaxOutstandingR2T', '64', '16'],
    ['DataPDUInOrder', 'No', 'Yes'], // OR with our Yes
    ['DataSequenceInOrder', 'No', 'Yes'],
    ['ErrorRecoveryLevel', '2', '0'],
    ['ErrorRecoveryLevel', '3', 'Reject'],
    ['OFMarker', 'Yes', 'No'],
    ['IFMarkInt', '2048~8192', 'Irrelevant'],
    ['TaskReporting', 'ResponseFence,RFC3720', 'RFC3720'],
    ['X-com.example.Thing', '1', 'NotUnderstood'],
    ['NoSuchKey', '1', 'NotUnderstood'],
  ];
  for (const [k, v, want] of cases) {
    const p = { ...DEFAULT_PARAMS };
    assert.equal(answerOperationalKey(k, v, p, DEFAULT_TARGET_LIMITS), want, `${k}=${v}`);
  }
  const p = { ...DEFAULT_PARAMS };
  answerOperationalKey('MaxRecvDataSegmentLength', '65536', p, DEFAULT_TARGET_LIMITS);
  assert.equal(p.maxXmitDataSegmentLength, 65536);
  answerOperationalKey('HeaderDigest', 'CRC32C', p, DEFAULT_TARGET_LIMITS);
  assert.equal(p.headerDigest, true);
});

test('login: security then operational stage, declarations, final transit', () => {
  const l = login();
  const a = step(l, {}, LEADING);
  assert.equal(a.outcome, 'continue');
  assert.equal(a.response.status, 0);
  assert.equal(a.response.transit, true);
  assert.equal(a.keys.get('AuthMethod'), 'None');
  assert.equal(a.keys.get('TargetPortalGroupTag'), '3');
  assert.equal(a.keys.get('TargetAlias'), 'disk one');
  const b = step(l, { csg: STAGE.OPERATIONAL, nsg: STAGE.FULL_FEATURE }, [
    ['HeaderDigest', 'CRC32C,None'],
    ['MaxRecvDataSegmentLength', '131072'],
    ['MaxBurstLength', '524288'],
    ['FirstBurstLength', '1048576'],
    ['InitialR2T', 'No'],
  ]);
  assert.equal(b.outcome, 'complete');
  assert.equal(
    b.keys.get('MaxRecvDataSegmentLength'),
    String(DEFAULT_TARGET_LIMITS.maxRecvDataSegmentLength),
  );
  assert.equal(b.result!.params.headerDigest, true);
  assert.equal(b.result!.params.maxXmitDataSegmentLength, 131072);
  // FirstBurstLength may not exceed MaxBurstLength (§13.14).
  assert.equal(b.result!.params.firstBurstLength, 262144);
  assert.equal(b.result!.params.maxBurstLength, 524288);
  assert.equal(b.result!.params.initialR2T, false);
});

test('login: C bit text is gathered and acknowledged with an empty response', () => {
  const l = login();
  const text = encodeTextPairs(LEADING);
  const first = l.handle(req({ transit: false, continue: true }), text.subarray(0, 20));
  assert.equal(first.outcome, 'continue');
  assert.equal(first.data.length, 0);
  const second = l.handle(req({}), text.subarray(20));
  assert.equal(new Map(decodeTextPairs(second.data)).get('AuthMethod'), 'None');
});

test('login failures carry RFC 7143 §11.13.5 status class and detail', () => {
  const t = target();
  const status = (pairs: TextPairs, o: Partial<LoginRequestPdu> = {}, tt = t): number =>
    step(login(tt), o, pairs).response.status;
  assert.equal(status(LEADING, { versionMin: 1, versionMax: 2 }), LOGIN_STATUS.UNSUPPORTED_VERSION);
  assert.equal(status([['TargetName', TARGET]]), LOGIN_STATUS.MISSING_PARAMETER);
  assert.equal(status([['InitiatorName', INITIATOR]]), LOGIN_STATUS.MISSING_PARAMETER);
  assert.equal(
    status([
      ['InitiatorName', INITIATOR],
      ['TargetName', 'iqn.2026-11.io.vdisk:nope'],
    ]),
    LOGIN_STATUS.NOT_FOUND,
  );
  assert.equal(
    status([...LEADING.slice(0, 2), ['SessionType', 'Weird']]),
    LOGIN_STATUS.SESSION_TYPE_NOT_SUPPORTED,
  );
  const acl = target({ allowedInitiators: ['iqn.2026-11.io.vdisk.test:someone-else'] });
  assert.equal(status(LEADING, {}, acl), LOGIN_STATUS.AUTHORIZATION_FAILURE);
  assert.equal(status([...LEADING, ['InitiatorName', 'x']]), LOGIN_STATUS.INITIATOR_ERROR); // twice
  assert.equal(status(LEADING, { csg: 2 }), LOGIN_STATUS.INITIATOR_ERROR);
  const l = login();
  l.handle(req({ transit: false, continue: true }), Buffer.from('Initiator'));
  assert.equal(l.handle(req({}), Buffer.from('Name\0')).response.status, LOGIN_STATUS.INITIATOR_ERROR); // no '='
  // CHAP required: None refused, skipping the security stage refused.
  const chap = target({ chap: { user: 'alice', secret: 'twelve-chars' } });
  assert.equal(status(LEADING, {}, chap), LOGIN_STATUS.AUTHENTICATION_FAILURE);
  assert.equal(
    status(LEADING.slice(0, 3), { csg: STAGE.OPERATIONAL, nsg: STAGE.FULL_FEATURE }, chap),
    LOGIN_STATUS.AUTHENTICATION_FAILURE,
  );
});

test('login: leading declarations repeated with the same value are ignored, a changed one is 02/00', () => {
  const l = login();
  assert.equal(step(l, { transit: false }, LEADING.slice(0, 3)).response.status, 0);
  const again = step(l, {}, LEADING);
  assert.equal(again.response.status, 0);
  assert.equal(again.keys.get('AuthMethod'), 'None');
  const m = login();
  step(m, { transit: false }, LEADING.slice(0, 3));
  assert.equal(
    step(m, {}, [['InitiatorName', 'iqn.2026-11.io.vdisk.test:other']]).response.status,
    LOGIN_STATUS.INITIATOR_ERROR,
  );
});

test('discovery session: no TargetName needed, session keys Irrelevant', () => {
  const l = login();
  const a = step(l, { csg: STAGE.OPERATIONAL, nsg: STAGE.FULL_FEATURE }, [
    ['InitiatorName', INITIATOR],
    ['SessionType', 'Discovery'],
    ['MaxBurstLength', '262144'],
    ['HeaderDigest', 'None'],
  ]);
  assert.equal(a.outcome, 'complete');
  assert.equal(a.result!.sessionType, 'discovery');
  assert.equal(a.keys.get('MaxBurstLength'), 'Irrelevant');
  assert.equal(a.keys.get('HeaderDigest'), 'None');
});

test('CHAP MD5: the response is MD5(id || secret || challenge) (RFC 1994 §4.1)', () => {
  const c = Buffer.from('0123456789abcdef');
  const want = crypto
    .createHash('md5')
    .update(Buffer.concat([Buffer.from([7]), Buffer.from('secretsecret'), c]))
    .digest();
  assert.deepEqual(chapResponse(5, 7, 'secretsecret', c), want);
  // A fixed vector: MD5(0x01 || "123456789012" || 16 zero bytes).
  assert.equal(
    chapResponse(5, 1, '123456789012', Buffer.alloc(16)).toString('hex'),
    crypto
      .createHash('md5')
      .update(Buffer.concat([Buffer.from([1]), Buffer.from('123456789012'), Buffer.alloc(16)]))
      .digest('hex'),
  );
  assert.equal(chapResponse(7, 1, 'x', Buffer.alloc(1)).length, 32);
});

function chapLogin(
  t: IscsiTarget,
  o: { secret?: string; mutual?: { id: number; challenge: Buffer }; algorithms?: string; reflect?: boolean },
): { last: LoginStep & { keys: Map<string, string> }; challenge?: Buffer; id?: number; alg?: number } {
  const l = login(t);
  const a = step(l, { transit: false }, [...LEADING.slice(0, 3), ['AuthMethod', 'CHAP,None']]);
  assert.equal(a.keys.get('AuthMethod'), 'CHAP');
  assert.equal(a.response.transit, false);
  const b = step(l, { transit: false }, [['CHAP_A', o.algorithms ?? '5']]);
  if (b.outcome === 'failed') return { last: b };
  const alg = Number(b.keys.get('CHAP_A'));
  const id = Number(b.keys.get('CHAP_I'));
  const challenge = parseBinary(b.keys.get('CHAP_C')!)!;
  const pairs: TextPairs = [
    ['CHAP_N', 'alice'],
    ['CHAP_R', '0x' + chapResponse(alg, id, o.secret ?? 'twelve-chars', challenge).toString('hex')],
  ];
  if (o.mutual || o.reflect) {
    pairs.push(['CHAP_I', String(o.mutual?.id ?? 1)]);
    pairs.push(['CHAP_C', '0x' + (o.reflect ? challenge : o.mutual!.challenge).toString('hex')]);
  }
  const last = step(l, {}, pairs);
  return { last, challenge, id, alg };
}

test('CHAP one-way: right secret logs in, wrong secret is 02/01', () => {
  const t = target({ chap: { user: 'alice', secret: 'twelve-chars' } });
  const ok = chapLogin(t, {});
  assert.equal(ok.last.response.status, 0);
  assert.equal(ok.last.response.transit, true);
  assert.equal(ok.challenge!.length, 16);
  const bad = chapLogin(t, { secret: 'twelve-charz' });
  assert.equal(bad.last.response.status, LOGIN_STATUS.AUTHENTICATION_FAILURE);
  assert.equal(bad.last.outcome, 'failed');
  // SHA-256 when the initiator lists it first; an unknown algorithm list fails.
  assert.equal(chapLogin(t, { algorithms: '7,5' }).alg, 7);
  assert.equal(chapLogin(t, { algorithms: '3' }).last.response.status, LOGIN_STATUS.AUTHENTICATION_FAILURE);
});

test('CHAP mutual: the target proves its secret; reflection and missing target secret are refused', () => {
  const t = target({
    chap: { user: 'alice', secret: 'twelve-chars' },
    mutualChap: { user: 'tgt', secret: 'target-secret-16' },
  });
  const mine = crypto.randomBytes(16);
  const r = chapLogin(t, { mutual: { id: 9, challenge: mine } });
  assert.equal(r.last.response.status, 0);
  assert.equal(r.last.keys.get('CHAP_N'), 'tgt');
  assert.equal(
    r.last.keys.get('CHAP_R'),
    '0x' + chapResponse(5, 9, 'target-secret-16', mine).toString('hex'),
  );
  assert.equal(chapLogin(t, { reflect: true }).last.response.status, LOGIN_STATUS.AUTHENTICATION_FAILURE);
  const oneWay = target({ chap: { user: 'alice', secret: 'twelve-chars' } });
  assert.equal(
    chapLogin(oneWay, { mutual: { id: 1, challenge: mine } }).last.response.status,
    LOGIN_STATUS.AUTHENTICATION_FAILURE,
  );
});

test('CHAP configuration: short secrets and a shared mutual secret are refused', () => {
  assert.throws(() => checkChapCredentials({ user: 'a', secret: 'short' }, 'x'), /at least 12/);
  assert.doesNotThrow(() => checkChapCredentials({ user: 'a', secret: 'exactly12chr' }, 'x'));
  assert.throws(() => target({ chap: { user: 'a', secret: 'eleven-char' } }), /at least 12/);
  assert.throws(
    () =>
      target({
        chap: { user: 'a', secret: 'same-secret-1' },
        mutualChap: { user: 'b', secret: 'same-secret-1' },
      }),
    /must differ/,
  );
  assert.throws(() => makeTarget({ name: 'not-an-iqn', router: new FakeRouter(16) }), /not an iSCSI name/);
});
