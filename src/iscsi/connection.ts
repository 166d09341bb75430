/**
 * One iSCSI connection (RFC 7143 §4, §6-§8), from accept to close:
 *
 *     login --final Login Response--> full feature --Logout/EOF/error--> closing --> closed
 *       +--login failure (status sent)---------------------------------------^
 *
 * Input: pdu-parser.ts frames PDUs (caps and digests); this file checks the opcode for the phase
 * and dispatches: Login Requests to login.ts; SCSI Command and Data-Out to command-intake.ts;
 * NOP-Out, Text, Task Management and Logout to requests.ts; SNACK is rejected here.
 * Non-immediate requests go through the session's CmdSN window first.
 *
 * Failure levels (errors.ts): a PDU that is wrong but framed gets a Reject (an unknown opcode:
 * "Command not supported"; a data digest error: "Data (payload) digest error"); a sequence error
 * of a data transfer or an oversized data segment gets a Reject and the connection is dropped
 * (ERL 0 has no recovery within a connection); a header digest error drops at once.
 *
 * Liveness (liveness.ts): the target pings an idle initiator with a NOP-In that asks for an
 * answer every `nopIntervalMs`, and drops the connection when no answer came within
 * `nopTimeoutMs`. The login must finish within `loginTimeoutMs`.
 *
 * A connection's `closed` promise settles only once the socket is gone and no command or task
 * management function it handed to the SCSI core is still running, so that the server can drain
 * before the images close. On the way out the core is told of the I_T nexus loss (a session has
 * one connection here, so the connection's end is the session's end).
 */
import type net from 'node:net';
import type { ItNexus, ScsiTaskRouter } from '../scsi/index.js';
import { readSocket, type InputReader } from '../util/index.js';
import { decodeAhsList } from './ahs.js';
import { encodeAsyncMessage } from './async-message.js';
import { BHS_SIZE, bhsImmediate, bhsItt, bhsOpcode } from './bhs.js';
import { CommandIntake } from './command-intake.js';
import { ASYNC_EVENT, OP, REJECT_REASON } from './constants.js';
import { IscsiPduError, IscsiProtocolError, LoginError, loginStatusName } from './errors.js';
import { Pinger } from './liveness.js';
import { decodeLoginRequest } from './login-request.js';
import { encodeLoginResponse } from './login-response.js';
import { Login } from './login.js';
import { PduParser, type ParsedPdu } from './pdu-parser.js';
import { PduWriter } from './pdu-writer.js';
import { encodeReject } from './reject.js';
import { onLogout, onNopOut, onTaskManagement, onText, type RequestHost } from './requests.js';
import type { Session } from './session.js';
import { TextExchange } from './text-exchange.js';
import type { TextPairs } from './text-keys.js';
import type { ConnectionContext, ConnectionStats, Phase } from './connection-context.js';

const EMPTY = Buffer.alloc(0);

export class Connection implements RequestHost {
  readonly writer: PduWriter;
  private phase: Phase = 'login';
  private readonly parser: PduParser;
  private login: Login | undefined;
  session!: Session;
  intake: CommandIntake | undefined;
  readonly text = new TextExchange();
  private statSN = 0;
  cid = 0;
  private tmfRunning = 0;

  private loginTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly pinger: Pinger;
  private socketGone = false;
  private resolveClosed!: () => void;
  readonly closed: Promise<void>;
  readonly maxCommandBytes: number;
  readonly maxHeldBytes: number;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: ConnectionContext,
  ) {
    this.writer = new PduWriter(socket, ctx.poll);
    this.maxCommandBytes = ctx.maxCommandBytes;
    this.maxHeldBytes = ctx.maxHeldBytes;
    this.parser = new PduParser({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 8192 });
    this.parser.placer = (bhs, length) =>
      bhsOpcode(bhs) === OP.DATA_OUT ? this.intake?.placeDataOut(bhs, length) : undefined;
    this.login = new Login(ctx);
    this.pinger = new Pinger(
      ctx.nopIntervalMs,
      ctx.nopTimeoutMs,
      this.writer,
      () => this.peekStatSN(),
      (why) => this.drop(new IscsiProtocolError('TIMEOUT', why)),
    );
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    if (!readSocket(socket, this.input)) socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.loginTimer = setTimeout(
      () => this.drop(new IscsiProtocolError('TIMEOUT', 'the login did not finish in time')),
      ctx.loginTimeoutMs,
    );
  }

  get nexus(): ItNexus {
    return this.session.nexus!;
  }

  get router(): ScsiTaskRouter {
    return this.session.target!.router;
  }

  /** The socket is gone: nothing more can be sent. */
  get outputClosed(): boolean {
    return this.socketGone || this.socket.destroyed || this.phase === 'closed';
  }

  takeStatSN(): number {
    const s = this.statSN;
    this.statSN = (this.statSN + 1) >>> 0;
    return s;
  }

  peekStatSN(): number {
    return this.statSN;
  }

  // ---- RequestHost (requests.ts) ----

  tmfStarted(): void {
    this.tmfRunning++;
  }

  tmfEnded(): void {
    this.tmfRunning--;
  }

  pingAnswered(ttt: number): void {
    this.pinger.answered(ttt);
  }

  sendTargets(value: string): TextPairs {
    return this.ctx.sendTargets(value, this.session.initiatorName, this.session, localAddress(this.socket));
  }

  otherSessions(fn: (intake: CommandIntake) => void): void {
    for (const c of this.ctx.peers(this.session.target!, this)) if (c.intake) fn(c.intake);
  }

  loggingOut(then: () => void): void {
    this.phase = 'closing';
    this.intake?.dropUndelivered(() => true);
    this.whenIdle(() => {
      then();
      this.closeGracefully();
    });
  }

  stats(): ConnectionStats {
    return {
      phase: this.phase,
      initiator: this.session?.initiatorName,
      target: this.session?.target?.name,
      tsih: this.session?.tsih,
      tasks: this.intake?.tasks.size ?? 0,
      running: (this.intake?.running ?? 0) + this.tmfRunning,
      heldBytes: this.intake?.heldBytes ?? 0,
      readBytes: this.intake?.readBytes ?? 0,
      queuedBytes: this.writer.queuedBytes,
      bufferedInputBytes: this.parser.buffered,
      tcpCongestion: this.ctx.tcpCongestion,
    };
  }

  /**
   * The server drains: a connection still logging in is dropped; a session is asked to log out
   * (Async Message, AsyncEvent 1, with `graceSeconds` to do it, §11.9.1) and dropped when the
   * grace period ends. Commands in flight finish either way.
   */
  requestLogout(graceSeconds: number): void {
    if (this.phase === 'login') {
      this.drop(undefined);
      return;
    }
    if (this.phase !== 'full') return;
    const w = this.session.window;
    const h = this.writer.headerBuffer();
    encodeAsyncMessage(
      {
        dataSegmentLength: 0,
        lun: 0n,
        statSN: this.takeStatSN(),
        expCmdSN: w.expCmdSN,
        maxCmdSN: w.currentMax(),
        asyncEvent: ASYNC_EVENT.LOGOUT_REQUESTED,
        asyncVCode: 0,
        parameter1: 0,
        parameter2: 0,
        parameter3: graceSeconds,
      },
      h,
    );
    this.writer.send(h);
    const t = setTimeout(() => this.drop(undefined), graceSeconds * 1000);
    t.unref?.();
  }

  /**
   * Ends the connection (reinstatement of its session, a server that stops waiting, a stream
   * that cannot be trusted). After a rejected PDU (IscsiPduError) the Reject is sent first.
   */
  drop(err: unknown): void {
    if (err !== undefined) {
      this.ctx.log(`dropping connection: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (err instanceof IscsiPduError) {
      this.closeGracefully();
      return;
    }
    this.enterClosing();
    this.socket.destroy();
    this.settle();
  }

  // ---- socket events ----

  private readonly onData = (chunk: Buffer): void => {
    this.pinger.lastRx = Date.now();
    if (this.phase === 'closing' || this.phase === 'closed') return;
    this.parser.push(chunk);
    this.pump();
  };

  /**
   * Input without the stream machinery (util/socket-input.ts): PDUs through a staging slab, the
   * rest of a large data segment straight into its place (a Data-Out's place in its command's
   * buffer).
   */
  private readonly input: InputReader = {
    directTarget: () => (this.phase === 'full' ? this.parser.directTarget() : undefined),
    received: (chunk, n) => {
      this.ctx.poll?.activity();
      if (chunk) {
        this.onData(chunk);
        // The chunk is the reader's staging buffer, overwritten by the next read: a large data
        // segment under way moves to its place now, anything else still queued is copied.
        if (this.phase === 'full') this.parser.directTarget();
        this.parser.own();
      } else if (this.parser.directReceived(n)) {
        this.pinger.lastRx = Date.now();
        this.pump();
      }
    },
  };

  private readonly onDrain = (): void => {
    if (this.phase === 'login' || this.phase === 'full') {
      this.socket.resume();
      this.pump();
    }
  };

  private readonly onEnd = (): void => {
    this.enterClosing();
    if (!this.socket.destroyed) this.socket.end();
    this.settle();
  };

  private readonly onError = (err: Error): void => {
    this.ctx.log(`connection error: ${err.message}`);
    this.drop(undefined);
  };

  private readonly onClose = (): void => {
    this.socketGone = true;
    this.enterClosing();
    this.phase = 'closed';
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.settle();
  };

  // ---- input ----

  private pump(): void {
    try {
      while (this.phase === 'login' || this.phase === 'full') {
        if (this.writer.queuedBytes > this.ctx.maxQueuedBytes) {
          // The initiator does not read what we send: stop reading what it sends.
          this.socket.pause();
          return;
        }
        const pdu = this.parser.next();
        if (!pdu) return;
        if (this.phase === 'login') this.onLoginPdu(pdu);
        else this.dispatch(pdu);
      }
    } catch (err) {
      this.drop(err);
    }
  }

  private onLoginPdu(pdu: ParsedPdu): void {
    if (pdu.kind === 'oversized' || bhsOpcode(pdu.bhs) !== OP.LOGIN_REQUEST) {
      throw new IscsiProtocolError(
        'LOGIN',
        pdu.kind === 'oversized'
          ? `a login PDU with ${pdu.dataSegmentLength} bytes of data (at most 8192)`
          : `opcode 0x${bhsOpcode(pdu.bhs).toString(16)} during login`,
      );
    }
    const req = decodeLoginRequest(pdu.bhs);
    let step = this.login!.handle(req, pdu.data);
    let session: Session | undefined;
    if (step.outcome === 'complete') {
      try {
        session = this.ctx.establish(step.result!, this);
      } catch (err) {
        if (!(err instanceof LoginError)) throw err;
        step = {
          response: { ...step.response, transit: false, nsg: 0, status: err.status },
          data: EMPTY,
          outcome: 'failed',
          error: err,
        };
      }
    }
    const h = this.writer.headerBuffer();
    encodeLoginResponse(
      {
        ...step.response,
        tsih: session?.tsih ?? 0,
        dataSegmentLength: step.data.length,
        statSN: this.takeStatSN(),
        expCmdSN: session ? session.window.expCmdSN : req.cmdSN,
        maxCmdSN: session ? session.window.currentMax() : req.cmdSN,
      },
      h,
    );
    this.writer.send(h, step.data);
    if (step.outcome === 'failed') {
      this.ctx.log(`login failed: ${loginStatusName(step.error!.status)}: ${step.error!.message}`);
      this.closeGracefully();
      return;
    }
    if (step.outcome !== 'complete' || !session) return;
    clearTimeout(this.loginTimer);
    this.login = undefined;
    this.session = session;
    this.cid = step.result!.cid;
    this.phase = 'full';
    const p = session.params;
    // Digests start with the first PDU after the final Login Response (RFC 7143 §13.1).
    this.writer.headerDigest = p.headerDigest;
    this.writer.dataDigest = p.dataDigest;
    this.parser.settings = {
      headerDigest: p.headerDigest,
      dataDigest: p.dataDigest,
      maxDataSegmentLength: p.maxRecvDataSegmentLength,
    };
    if (session.type === 'normal') this.intake = new CommandIntake(this);
    this.pinger.start(session);
  }

  private dispatch(pdu: ParsedPdu): void {
    const bhs = pdu.bhs;
    if (pdu.kind === 'oversized') {
      // RFC 7143 §13.12: a data segment beyond our MaxRecvDataSegmentLength is a protocol error.
      this.reject(bhs, REJECT_REASON.PROTOCOL_ERROR);
      throw new IscsiPduError(
        REJECT_REASON.PROTOCOL_ERROR,
        `a data segment of ${pdu.dataSegmentLength} bytes, above MaxRecvDataSegmentLength ${this.parser.settings.maxDataSegmentLength}`,
      );
    }
    const op = bhsOpcode(bhs);
    const discovery = this.session.type === 'discovery';
    if (pdu.dataDigestError && op !== OP.DATA_OUT) {
      // §7.8: Reject and discard; a command's CmdSN is taken as received so that later ones go on.
      this.reject(bhs, REJECT_REASON.DATA_DIGEST_ERROR);
      if (op === OP.SCSI_COMMAND) {
        throw new IscsiPduError(
          REJECT_REASON.DATA_DIGEST_ERROR,
          'data digest error on a SCSI Command (ERL 0)',
        );
      }
      if (op === OP.NOP_OUT || op === OP.TEXT_REQUEST) {
        this.session.window.take(bhs.readUInt32BE(24), bhsImmediate(bhs), () => undefined);
      }
      return;
    }
    try {
      switch (op) {
        case OP.SCSI_COMMAND:
        case OP.DATA_OUT:
        case OP.TASK_MGMT_REQUEST:
          if (discovery || !this.intake) {
            this.reject(bhs, REJECT_REASON.PROTOCOL_ERROR); // RFC 7143 §4.3: discovery sessions
            return;
          }
          if (op === OP.SCSI_COMMAND) {
            this.intake.onCommand(
              bhs,
              pdu.ahs.length ? decodeAhsList(pdu.ahs) : [],
              pdu.data,
              pdu.pooled === true,
            );
          } else if (op === OP.DATA_OUT) this.intake.onDataOut(bhs, pdu.data, pdu.dataDigestError);
          else onTaskManagement(this, bhs);
          return;
        case OP.NOP_OUT:
          onNopOut(this, bhs, pdu.data);
          return;
        case OP.TEXT_REQUEST:
          onText(this, bhs, pdu.data);
          return;
        case OP.LOGOUT_REQUEST:
          onLogout(this, bhs);
          return;
        case OP.SNACK_REQUEST:
        case OP.LOGIN_REQUEST:
          // SNACK needs ErrorRecoveryLevel > 0; a Login Request in full feature phase is out of place.
          this.reject(bhs, REJECT_REASON.PROTOCOL_ERROR);
          return;
        default:
          this.reject(bhs, REJECT_REASON.COMMAND_NOT_SUPPORTED);
          return;
      }
    } catch (err) {
      if (!(err instanceof IscsiPduError)) throw err;
      this.ctx.log(`rejecting a PDU: ${err.message}`);
      this.reject(bhs, err.reason);
      if (err.drop) throw err;
    }
  }

  // ---- output helpers ----

  reject(bhs: Buffer, reason: number): void {
    if (this.outputClosed) return;
    const w = this.session?.window;
    const h = this.writer.headerBuffer();
    encodeReject(
      {
        reason,
        dataSegmentLength: BHS_SIZE,
        statSN: this.takeStatSN(),
        expCmdSN: w?.expCmdSN ?? 0,
        maxCmdSN: w?.currentMax() ?? 0,
        dataSN: 0,
      },
      h,
    );
    this.writer.send(h, Buffer.from(bhs.subarray(0, BHS_SIZE)));
    this.ctx.log(
      `Reject 0x${reason.toString(16)} for opcode 0x${bhsOpcode(bhs).toString(16)} ITT 0x${bhsItt(bhs).toString(16)}`,
    );
  }

  log(message: string): void {
    this.ctx.log(message);
  }

  /** A command or task management function ended. */
  changed(): void {
    if (this.idleWaiter && this.isIdle()) {
      const f = this.idleWaiter;
      this.idleWaiter = undefined;
      f();
    }
    if (
      this.phase === 'full' &&
      this.socket.isPaused() &&
      this.writer.queuedBytes <= this.ctx.maxQueuedBytes
    ) {
      this.socket.resume();
    }
    this.settle();
  }

  private idleWaiter: (() => void) | undefined;

  private isIdle(): boolean {
    return (this.intake?.running ?? 0) === 0 && this.tmfRunning === 0;
  }

  private whenIdle(f: () => void): void {
    if (this.isIdle()) f();
    else this.idleWaiter = f;
  }

  // ---- ending ----

  /** Sends what is queued, half-closes, and cuts the socket if the peer does not close in time. */
  private closeGracefully(): void {
    this.enterClosing();
    this.writer.flush();
    if (!this.socket.destroyed) {
      this.socket.end();
      this.socket.resume(); // read and discard, so that the peer sees our FIN, not a reset
    }
    this.closeTimer ??= setTimeout(() => this.socket.destroy(), this.ctx.closeGraceMs);
    this.closeTimer.unref?.();
    this.settle();
  }

  private enterClosing(): void {
    if (this.phase === 'closing' || this.phase === 'closed') {
      if (this.phase === 'closing') this.endSession();
      return;
    }
    this.phase = 'closing';
    this.endSession();
  }

  private sessionEnded = false;

  private endSession(): void {
    if (this.sessionEnded) return;
    this.sessionEnded = true;
    clearTimeout(this.loginTimer);
    this.pinger.stop();
    this.parser.clear();
    this.intake?.releaseAll();
    if (this.session) {
      this.session.ended = true;
      this.session.window.clear();
      this.ctx.ended(this.session, this);
    }
  }

  private settle(): void {
    if (this.socketGone && this.isIdle()) this.resolveClosed();
  }
}

function localAddress(s: net.Socket): string {
  const a = s.localAddress ?? '127.0.0.1';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}
