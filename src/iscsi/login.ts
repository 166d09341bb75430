/**
 * The login phase of one connection (RFC 7143 §6.3 and §11.12-§11.13), target side.
 *
 *     security (CSG 0) --T, NSG 1--> operational (CSG 1) --T, NSG 3--> full feature
 *          +--------------------T, NSG 3------------------------------^
 *
 * Each Login Request is answered by one Login Response. Text split over several requests with
 * the C bit is gathered first (each part acknowledged with an empty response, §6.3; at most
 * MAX_TEXT_BYTES in all). The target transits when the initiator asks to and the stage is
 * complete: the security stage is complete once AuthMethod None was chosen or the CHAP exchange
 * succeeded (chap.ts); a stage the initiator wants to leave too early is answered with T=0.
 *
 * Failures end the login with a status (RFC 7143 §11.13.5), as LoginErrors: unsupported version
 * 02/05, missing InitiatorName or TargetName 02/07, unknown target 02/03, an initiator not in the
 * target's ACL 02/02, authentication failures 02/01, an unknown session type 02/09, a TSIH of no
 * session 02/0a, malformed text or a key offered twice 02/00.
 *
 * The result of a successful login is a `LoginResult`: who logged in to what, the negotiated
 * parameters, and the ISID/TSIH the server uses to assign or reinstate the session.
 */
import { ChapExchange } from './chap.js';
import { ISCSI_VERSION, LOGIN_STATUS, STAGE } from './constants.js';
import { LoginError } from './errors.js';
import type { LoginRequestPdu } from './login-request.js';
import type { LoginResponsePdu } from './login-response.js';
import {
  answerOperationalKey,
  DEFAULT_PARAMS,
  finishParams,
  OPERATIONAL_KEYS,
  targetDeclarations,
  type OperationalParams,
  type TargetLimits,
} from './operational-keys.js';
import { initiatorAllowed, type IscsiTarget } from './target.js';
import {
  decodeTextPairs,
  encodeTextPairs,
  MAX_TEXT_BYTES,
  TextFormatError,
  type TextPairs,
} from './text-keys.js';

export type SessionType = 'normal' | 'discovery';

export interface LoginResult {
  sessionType: SessionType;
  initiatorName: string;
  initiatorAlias: string | undefined;
  /** Undefined for discovery sessions. */
  target: IscsiTarget | undefined;
  isid: number;
  /** The TSIH the initiator sent: 0 for a new session. */
  tsih: number;
  cid: number;
  params: OperationalParams;
  /** The CmdSN of the first Login Request: the session's first ExpCmdSN. */
  cmdSN: number;
}

export interface LoginContext {
  /** The target called `name` that is reachable on this connection's portal. */
  findTarget(name: string): IscsiTarget | undefined;
  limits: TargetLimits;
}

export interface LoginStep {
  response: Omit<LoginResponsePdu, 'statSN' | 'expCmdSN' | 'maxCmdSN' | 'dataSegmentLength'>;
  data: Buffer;
  /** The login ended: 'complete' enters full feature phase after this response, 'failed' closes. */
  outcome: 'continue' | 'complete' | 'failed';
  result?: LoginResult;
  error?: LoginError;
}

/** Declarations of the leading login request (RFC 7143 §13.4-§13.6, §13.21). */
const LEADING_KEYS = new Set(['InitiatorName', 'InitiatorAlias', 'TargetName', 'SessionType']);

const SECURITY_KEYS = /^(AuthMethod|CHAP_[AINRC]|SRP_.*|KRB_.*|SPKM.*)$/;

export class Login {
  private stage: number | undefined;
  private first: LoginRequestPdu | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly params: OperationalParams;
  private sessionType: SessionType = 'normal';
  private initiatorName: string | undefined;
  private initiatorAlias: string | undefined;
  private target: IscsiTarget | undefined;
  private authMethod: 'none' | 'chap' | undefined;
  private chap: ChapExchange | undefined;
  private declaredTarget = false;
  private declaredLimits = false;
  private readonly seenKeys = new Map<string, string>();

  constructor(private readonly ctx: LoginContext) {
    this.params = { ...DEFAULT_PARAMS, maxRecvDataSegmentLength: ctx.limits.maxRecvDataSegmentLength };
  }

  /** Answers one Login Request (with its data segment). */
  handle(req: LoginRequestPdu, data: Buffer): LoginStep {
    try {
      return this.step(req, data);
    } catch (err) {
      const e =
        err instanceof LoginError
          ? err
          : err instanceof TextFormatError
            ? new LoginError(LOGIN_STATUS.INITIATOR_ERROR, err.message)
            : new LoginError(LOGIN_STATUS.TARGET_ERROR, err instanceof Error ? err.message : String(err));
      return {
        response: this.header(req, false, req.csg, 0, e.status),
        data: Buffer.alloc(0),
        outcome: 'failed',
        error: e,
      };
    }
  }

  private step(req: LoginRequestPdu, data: Buffer): LoginStep {
    if (!this.first) {
      // RFC 7143 §11.12.4: Version-min greater than ours, or Version-max below it.
      if (req.versionMin > ISCSI_VERSION || req.versionMax < ISCSI_VERSION) {
        throw new LoginError(
          LOGIN_STATUS.UNSUPPORTED_VERSION,
          `iSCSI versions ${req.versionMin}..${req.versionMax}`,
        );
      }
      this.first = req;
    } else if (req.isid !== this.first.isid || req.tsih !== this.first.tsih || req.cid !== this.first.cid) {
      throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, 'ISID, TSIH or CID changed during the login');
    }
    if (req.csg === 2 || req.csg === STAGE.FULL_FEATURE) {
      throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, `login request with CSG ${req.csg}`);
    }
    if (this.stage === undefined) this.stage = req.csg;
    else if (req.csg !== this.stage) {
      if (req.csg < this.stage) throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, 'CSG went back');
      this.stage = req.csg;
    }
    if (req.transit && (req.nsg <= req.csg || req.nsg === 2)) {
      throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, `transit from stage ${req.csg} to ${req.nsg}`);
    }
    if (req.transit && req.continue) {
      throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, 'T and C both set (RFC 7143 §11.12.2)');
    }

    this.pendingBytes += data.length;
    if (this.pendingBytes > MAX_TEXT_BYTES) {
      throw new LoginError(LOGIN_STATUS.OUT_OF_RESOURCES, `more than ${MAX_TEXT_BYTES} bytes of login text`);
    }
    this.pending.push(data);
    if (req.continue) {
      // A partial text: acknowledged with an empty response (RFC 7143 §6.3).
      return { response: this.header(req, false, req.csg, 0, 0), data: Buffer.alloc(0), outcome: 'continue' };
    }
    const text = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    const pairs = decodeTextPairs(text);
    const keys = new Map<string, string>();
    for (const [k, v] of pairs) {
      // RFC 7143 §6.1: a key offered twice in one request is a protocol error. Initiators
      // (libiscsi with CHAP) repeat the leading declarations in later requests of a login: the
      // same value again is harmless and ignored, a different one is an error.
      if (keys.has(k)) throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, `key ${k} offered twice`);
      const before = this.seenKeys.get(k);
      if (before !== undefined && LEADING_KEYS.has(k)) {
        if (before !== v) throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, `${k} changed during the login`);
        continue;
      }
      keys.set(k, v);
      this.seenKeys.set(k, v);
    }

    const answers: TextPairs = [];
    this.leadingKeys(keys, answers);
    if (req.csg === STAGE.SECURITY) this.security(keys, answers);
    else {
      for (const k of keys.keys()) {
        if (SECURITY_KEYS.test(k)) {
          throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, `security key ${k} in the operational stage`);
        }
      }
      if (this.authRequired() && !this.authenticated()) {
        throw new LoginError(LOGIN_STATUS.AUTHENTICATION_FAILURE, 'this target requires CHAP authentication');
      }
    }
    this.operational(keys, answers);

    let transit = false;
    let nsg = 0;
    if (req.transit) {
      const canLeave = req.csg !== STAGE.SECURITY || this.authenticated();
      if (canLeave) {
        transit = true;
        nsg = req.nsg;
      }
    }
    if ((req.csg === STAGE.OPERATIONAL || (transit && nsg === STAGE.FULL_FEATURE)) && !this.declaredLimits) {
      this.declaredLimits = true;
      answers.push(...targetDeclarations(this.ctx.limits));
    }
    const step: LoginStep = {
      response: this.header(req, transit, req.csg, nsg, 0),
      data: encodeTextPairs(answers),
      outcome: 'continue',
    };
    if (transit && nsg === STAGE.FULL_FEATURE) {
      finishParams(this.params);
      step.outcome = 'complete';
      step.result = {
        sessionType: this.sessionType,
        initiatorName: this.initiatorName!,
        initiatorAlias: this.initiatorAlias,
        target: this.target,
        isid: this.first.isid,
        tsih: this.first.tsih,
        cid: this.first.cid,
        params: this.params,
        cmdSN: this.first.cmdSN,
      };
    }
    return step;
  }

  /** InitiatorName, TargetName, SessionType: required in the leading request (RFC 7143 §13.4-§13.6). */
  private leadingKeys(keys: Map<string, string>, answers: TextPairs): void {
    if (this.initiatorName === undefined) {
      const name = keys.get('InitiatorName');
      if (!name)
        throw new LoginError(
          LOGIN_STATUS.MISSING_PARAMETER,
          'InitiatorName missing in the first login request',
        );
      this.initiatorName = name;
      this.initiatorAlias = keys.get('InitiatorAlias');
      const type = keys.get('SessionType') ?? 'Normal';
      if (type === 'Discovery') this.sessionType = 'discovery';
      else if (type !== 'Normal') {
        throw new LoginError(LOGIN_STATUS.SESSION_TYPE_NOT_SUPPORTED, `SessionType=${type}`);
      }
      if (this.sessionType === 'normal') {
        const tn = keys.get('TargetName');
        if (!tn)
          throw new LoginError(
            LOGIN_STATUS.MISSING_PARAMETER,
            'TargetName missing in a normal session login',
          );
        const t = this.ctx.findTarget(tn);
        if (!t) throw new LoginError(LOGIN_STATUS.NOT_FOUND, `no target ${tn} here`);
        if (!initiatorAllowed(t, name)) {
          throw new LoginError(LOGIN_STATUS.AUTHORIZATION_FAILURE, `${name} may not log in to ${t.name}`);
        }
        this.target = t;
      }
    }
    if (this.target && !this.declaredTarget) {
      // RFC 7143 §13.9: TargetPortalGroupTag in the first Login Response of a normal session.
      this.declaredTarget = true;
      answers.push(['TargetPortalGroupTag', String(this.target.tpgt)]);
      if (this.target.alias) answers.push(['TargetAlias', this.target.alias]);
    }
  }

  private authRequired(): boolean {
    return this.sessionType === 'normal' && !!this.target?.chap;
  }

  private authenticated(): boolean {
    if (this.authMethod === 'chap') return !!this.chap?.done;
    if (this.authMethod === 'none') return true;
    // AuthMethod never negotiated: None by default, acceptable when no CHAP is required.
    return !this.authRequired();
  }

  private security(keys: Map<string, string>, answers: TextPairs): void {
    const offered = keys.get('AuthMethod');
    // Offered again after it was settled (an initiator repeating its first request): nothing new.
    if (offered !== undefined && this.authMethod === undefined) {
      const list = offered.split(',');
      const want = this.authRequired() ? 'CHAP' : 'None';
      if (!list.includes(want)) {
        answers.push(['AuthMethod', 'Reject']);
        throw new LoginError(
          LOGIN_STATUS.AUTHENTICATION_FAILURE,
          this.authRequired()
            ? 'CHAP required, not offered'
            : `AuthMethod=${offered}: this target has no CHAP secret`,
        );
      }
      this.authMethod = want === 'CHAP' ? 'chap' : 'none';
      answers.push(['AuthMethod', want]);
      if (this.authMethod === 'chap')
        this.chap = new ChapExchange(this.target!.chap!, this.target!.mutualChap);
    }
    const chapKeys = new Map([...keys].filter(([k]) => k.startsWith('CHAP_')));
    if (chapKeys.size > 0) {
      if (!this.chap) throw new LoginError(LOGIN_STATUS.INITIATOR_ERROR, 'CHAP keys without AuthMethod=CHAP');
      answers.push(...this.chap.step(chapKeys));
    }
  }

  private operational(keys: Map<string, string>, answers: TextPairs): void {
    for (const [k, v] of keys) {
      if (SECURITY_KEYS.test(k)) continue;
      switch (k) {
        case 'InitiatorName':
        case 'InitiatorAlias':
        case 'TargetName':
        case 'SessionType':
          continue; // declarative, handled by leadingKeys
        case 'TargetAlias':
        case 'TargetAddress':
        case 'TargetPortalGroupTag':
          answers.push([k, 'Reject']); // keys only a target sends
          continue;
        case 'SendTargets':
          answers.push([k, 'Irrelevant']); // a full feature phase key
          continue;
      }
      if (this.sessionType === 'discovery' && OPERATIONAL_KEYS.has(k) && !DISCOVERY_KEYS.has(k)) {
        answers.push([k, 'Irrelevant']); // RFC 7143 §13: session-wide keys mean nothing in discovery
        continue;
      }
      const a = answerOperationalKey(k, v, this.params, this.ctx.limits);
      if (a !== undefined) answers.push([k, a]);
    }
  }

  private header(
    req: LoginRequestPdu,
    transit: boolean,
    csg: number,
    nsg: number,
    status: number,
  ): LoginStep['response'] {
    return {
      transit,
      continue: false,
      csg,
      nsg: transit ? nsg : 0,
      versionMax: ISCSI_VERSION,
      versionActive: ISCSI_VERSION,
      isid: req.isid,
      tsih: 0,
      itt: req.itt,
      status,
    };
  }
}

/** Keys that keep their meaning in a discovery session (RFC 7143 §13: "Irrelevant" otherwise). */
const DISCOVERY_KEYS = new Set([
  'HeaderDigest',
  'DataDigest',
  'MaxRecvDataSegmentLength',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'ErrorRecoveryLevel',
  'MaxConnections',
  'OFMarker',
  'IFMarker',
  'OFMarkInt',
  'IFMarkInt',
  'TaskReporting',
  'iSCSIProtocolLevel',
]);
