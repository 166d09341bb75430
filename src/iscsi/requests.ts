/**
 * The full feature phase requests that are not SCSI commands (connection.ts dispatches them
 * here): NOP-Out (§11.18), Text (§11.10), Task Management (§11.5) and Logout (§11.14). Each one
 * that is not immediate waits for its CmdSN turn in the session's window; each answer carries
 * the next StatSN and the window's ExpCmdSN and MaxCmdSN.
 */
import type { IntakeHost, CommandIntake } from './command-intake.js';
import { LOGOUT_REASON, LOGOUT_RESPONSE, REJECT_REASON, RESERVED_TAG, TMF_RESPONSE } from './constants.js';
import { decodeLogoutRequest } from './logout-request.js';
import { encodeLogoutResponse } from './logout-response.js';
import { encodeNopIn } from './nop-in.js';
import { decodeNopOut } from './nop-out.js';
import { runTaskManagement } from './task-management.js';
import { decodeTaskMgmtRequest } from './task-mgmt-request.js';
import { encodeTaskMgmtResponse } from './task-mgmt-response.js';
import type { TextExchange } from './text-exchange.js';
import type { TextPairs } from './text-keys.js';
import { decodeTextRequest } from './text-request.js';
import { encodeTextResponse } from './text-response.js';

export interface RequestHost extends IntakeHost {
  readonly cid: number;
  readonly text: TextExchange;
  readonly intake: CommandIntake | undefined;
  sendTargets(value: string): TextPairs;
  /** The initiator answered the target's ping with this TTT. */
  pingAnswered(ttt: number): void;
  tmfStarted(): void;
  tmfEnded(): void;
  /** Calls `fn` with the commands of every other session of this session's target. */
  otherSessions(fn: (intake: CommandIntake) => void): void;
  /** Logout: stop taking requests, end what waits for data, and call `then` once idle. */
  loggingOut(then: () => void): void;
}

/** StatSN (advanced), ExpCmdSN and MaxCmdSN for an answer. */
function numbers(h: RequestHost): { statSN: number; expCmdSN: number; maxCmdSN: number } {
  const w = h.session.window;
  return { statSN: h.takeStatSN(), expCmdSN: w.expCmdSN, maxCmdSN: w.currentMax() };
}

export function onNopOut(h: RequestHost, bhs: Buffer, data: Buffer): void {
  const p = decodeNopOut(bhs);
  if (p.itt === RESERVED_TAG) {
    // The answer to our ping (§11.18.1: ITT 0xffffffff, our TTT, I bit set): no response.
    h.pingAnswered(p.ttt);
    return;
  }
  const echo = Buffer.from(
    data.subarray(0, Math.min(data.length, h.session.params.maxXmitDataSegmentLength)),
  );
  h.session.window.take(p.cmdSN, p.immediate, () => {
    if (h.outputClosed) return;
    const out = h.writer.headerBuffer();
    encodeNopIn(
      { dataSegmentLength: echo.length, lun: p.lun, itt: p.itt, ttt: RESERVED_TAG, ...numbers(h) },
      out,
    );
    h.writer.send(out, echo);
  });
}

export function onText(h: RequestHost, bhs: Buffer, data: Buffer): void {
  const req = decodeTextRequest(bhs);
  const copy = Buffer.from(data);
  h.session.window.take(req.cmdSN, req.immediate, () => {
    if (h.outputClosed) return;
    let reply;
    try {
      reply = h.text.handle(
        req,
        copy,
        {
          sendTargets: (v) => h.sendTargets(v),
          setMaxXmitDataSegmentLength: (v) => (h.session.params.maxXmitDataSegmentLength = v),
        },
        h.session.params.maxXmitDataSegmentLength,
      );
    } catch (err) {
      h.log(`rejecting a Text Request: ${err instanceof Error ? err.message : String(err)}`);
      h.reject(bhs, REJECT_REASON.PROTOCOL_ERROR);
      return;
    }
    const out = h.writer.headerBuffer();
    encodeTextResponse(
      {
        final: reply.final,
        continue: !reply.final && reply.ttt !== RESERVED_TAG,
        dataSegmentLength: reply.data.length,
        lun: req.lun,
        itt: req.itt,
        ttt: reply.ttt,
        ...numbers(h),
      },
      out,
    );
    h.writer.send(out, reply.data);
  });
}

export function onTaskManagement(h: RequestHost, bhs: Buffer): void {
  const req = decodeTaskMgmtRequest(bhs);
  h.session.window.take(req.cmdSN, req.immediate, () => {
    h.tmfStarted();
    void runTaskManagement(req, h.intake!, h, {
      nexusReset: () => h.router.nexusLost(h.nexus),
      otherSessions: (fn) => h.otherSessions(fn),
    })
      .catch(() => TMF_RESPONSE.FUNCTION_REJECTED)
      .then((code) => {
        h.tmfEnded();
        if (!h.outputClosed) {
          const out = h.writer.headerBuffer();
          encodeTaskMgmtResponse({ response: code, itt: req.itt, ...numbers(h) }, out);
          h.writer.send(out);
        }
        h.changed();
      });
  });
}

export function onLogout(h: RequestHost, bhs: Buffer): void {
  const req = decodeLogoutRequest(bhs);
  h.session.window.take(req.cmdSN, req.immediate, () => {
    let response: number = LOGOUT_RESPONSE.SUCCESS;
    if (req.reason === LOGOUT_REASON.REMOVE_CONNECTION_FOR_RECOVERY) {
      response = LOGOUT_RESPONSE.RECOVERY_NOT_SUPPORTED; // needs ErrorRecoveryLevel 2
    } else if (req.reason === LOGOUT_REASON.CLOSE_CONNECTION && req.cid !== h.cid) {
      response = LOGOUT_RESPONSE.CID_NOT_FOUND;
    } else if (req.reason > LOGOUT_REASON.REMOVE_CONNECTION_FOR_RECOVERY) {
      h.reject(bhs, REJECT_REASON.INVALID_PDU_FIELD);
      return;
    }
    const send = (): void => {
      if (h.outputClosed) return;
      const p = h.session.params;
      const out = h.writer.headerBuffer();
      encodeLogoutResponse(
        {
          response,
          itt: req.itt,
          ...numbers(h),
          time2Wait: p.defaultTime2Wait,
          time2Retain: p.defaultTime2Retain,
        },
        out,
      );
      h.writer.send(out);
    };
    // Closing the session or its only connection: the response goes once the commands still
    // running have answered; then the connection closes (§11.14).
    if (response === LOGOUT_RESPONSE.SUCCESS) h.loggingOut(send);
    else send();
  });
}
