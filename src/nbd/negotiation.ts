/**
 * The fixed newstyle negotiation (proto.md "Handshake"), as a state machine without I/O: it
 * takes the client's flags and options (option-parser.ts) and answers each with the bytes to send
 * and what the connection does next. Tests drive it directly; connection.ts moves the bytes.
 *
 * Options: NBD_OPT_EXPORT_NAME, ABORT, LIST, STARTTLS, INFO, GO, STRUCTURED_REPLY,
 * LIST_META_CONTEXT and SET_META_CONTEXT (`base:allocation`, `qemu:allocation-depth`), and
 * EXTENDED_HEADERS. Anything else gets NBD_REP_ERR_UNSUP. A malformed option gets NBD_REP_ERR_INVALID (or ERR_TOO_BIG when
 * it exceeds the parser's cap), and the negotiation goes on: the connection is dropped only when
 * the spec leaves no reply to send (an unknown export in NBD_OPT_EXPORT_NAME).
 *
 * TLS modes (proto.md "Server-side requirements"): without credentials the server is NOTLS and
 * answers STARTTLS with NBD_REP_ERR_POLICY. With credentials it is FORCEDTLS: until TLS is up,
 * every option other than STARTTLS and ABORT gets NBD_REP_ERR_TLS_REQD, and EXPORT_NAME (which
 * cannot fail) drops the connection. After STARTTLS the negotiation state starts over ("the
 * server MUST NOT preserve any negotiation state").
 */
import {
  CONTEXT_ALLOCATION_DEPTH,
  CONTEXT_BASE_ALLOCATION,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO,
  NBD_OPT,
  NBD_REP,
  nameOf,
} from './constants.js';
import { checkClientFlags, type ClientFlags } from './client-flags.js';
import { NbdProtocolError, OptionError } from './errors.js';
import { encodeExportNameReply } from './export-name-reply.js';
import type { ExportTable, NbdExport } from './export.js';
import { decodeInfoRequest } from './info-request.js';
import { encodeInfo } from './info-reply.js';
import { encodeMetaContextReply } from './meta-context-reply.js';
import { decodeMetaContextRequest } from './meta-context-request.js';
import type { NegotiationInput } from './option-parser.js';
import { encodeOptionError, encodeOptionReply } from './option-reply.js';
import { encodeServerReply } from './server-reply.js';
import { decodeWireString } from './wire-string.js';

/** The handshake flags this server sends. */
export const HANDSHAKE_FLAGS = NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES;

/** The metadata contexts this server knows, with the IDs SET_META_CONTEXT gives them. */
export const META_CONTEXTS = [
  { id: 1, name: CONTEXT_BASE_ALLOCATION },
  { id: 2, name: CONTEXT_ALLOCATION_DEPTH },
] as const;
export type MetaContext = (typeof META_CONTEXTS)[number];

/** What the transmission phase needs to know about the negotiation. */
export interface Session {
  export: NbdExport;
  structuredReplies: boolean;
  /** NBD_OPT_EXTENDED_HEADERS: 32-byte requests and extended reply chunks (implies structured). */
  extendedHeaders: boolean;
  /** Selected metadata contexts (empty: NBD_CMD_BLOCK_STATUS is refused with EINVAL). */
  contexts: MetaContext[];
  /** The transmission flags sent to the client. */
  flags: number;
}

export type Step =
  | { next: 'continue'; replies: Buffer[] }
  /** Send the replies, then start TLS on the connection. */
  | { next: 'starttls'; replies: Buffer[] }
  /** Send the replies, then enter the transmission phase. */
  | { next: 'transmission'; replies: Buffer[]; session: Session }
  /** Send the replies, then close the connection (NBD_OPT_ABORT). */
  | { next: 'close'; replies: Buffer[] };

export interface NegotiationOptions {
  /** TLS credentials are configured: FORCEDTLS mode. */
  tls: boolean;
  /** The server is shutting down: options get NBD_REP_ERR_SHUTDOWN. */
  shuttingDown?: () => boolean;
}

export class Negotiation {
  private noZeroes = false;
  private structuredReplies = false;
  private extendedHeaders = false;
  private contexts: MetaContext[] = [];
  private contextsFor: NbdExport | undefined;
  private tlsActive = false;

  constructor(
    private readonly exports: ExportTable,
    private readonly opts: NegotiationOptions,
  ) {}

  /** Handles one input of the negotiation phase. Throws NbdProtocolError to drop the connection. */
  handle(input: NegotiationInput): Step {
    switch (input.kind) {
      case 'client-flags':
        this.clientFlags(input.flags);
        return { next: 'continue', replies: [] };
      case 'too-big':
        if (input.option === NBD_OPT.EXPORT_NAME) {
          throw new NbdProtocolError('TOO_LARGE', `NBD_OPT_EXPORT_NAME of ${input.length} bytes`);
        }
        return reply(
          encodeOptionError(
            input.option,
            NBD_REP.ERR_TOO_BIG,
            `option data of ${input.length} bytes is too large`,
          ),
        );
      case 'option':
        return this.option(input.option, input.data);
    }
  }

  /** TLS is up: forget everything negotiated before it (proto.md `NBD_OPT_STARTTLS`). */
  tlsStarted(): void {
    this.tlsActive = true;
    this.structuredReplies = false;
    this.extendedHeaders = false;
    this.contexts = [];
    this.contextsFor = undefined;
  }

  private clientFlags(f: ClientFlags): void {
    checkClientFlags(f, HANDSHAKE_FLAGS);
    this.noZeroes = f.noZeroes;
  }

  private option(option: number, data: Buffer): Step {
    try {
      if (this.opts.shuttingDown?.() && option !== NBD_OPT.ABORT) {
        if (option === NBD_OPT.EXPORT_NAME) {
          throw new NbdProtocolError('UNKNOWN_EXPORT', 'the server is shutting down');
        }
        throw new OptionError(NBD_REP.ERR_SHUTDOWN, 'the server is shutting down');
      }
      if (this.opts.tls && !this.tlsActive && option !== NBD_OPT.STARTTLS && option !== NBD_OPT.ABORT) {
        if (option === NBD_OPT.EXPORT_NAME) {
          throw new NbdProtocolError('UNKNOWN_EXPORT', 'NBD_OPT_EXPORT_NAME before TLS on a TLS-only server');
        }
        throw new OptionError(NBD_REP.ERR_TLS_REQD, 'this server requires TLS: send NBD_OPT_STARTTLS first');
      }
      switch (option) {
        case NBD_OPT.EXPORT_NAME:
          return this.exportName(data);
        case NBD_OPT.ABORT:
          // "The client SHOULD NOT send any additional data with the option; however, a server
          // SHOULD ignore any data sent by the client rather than rejecting the request."
          return { next: 'close', replies: [encodeOptionReply(option, NBD_REP.ACK)] };
        case NBD_OPT.LIST:
          return this.list(data);
        case NBD_OPT.STARTTLS:
          return this.startTls(data);
        case NBD_OPT.INFO:
        case NBD_OPT.GO:
          return this.infoOrGo(option, data);
        case NBD_OPT.STRUCTURED_REPLY:
          return this.structuredReply(data);
        case NBD_OPT.EXTENDED_HEADERS:
          return this.extendedHeadersOption(data);
        case NBD_OPT.LIST_META_CONTEXT:
        case NBD_OPT.SET_META_CONTEXT:
          return this.metaContext(option, data);
        default:
          throw new OptionError(NBD_REP.ERR_UNSUP, `${nameOf(NBD_OPT, 'NBD_OPT', option)} is not supported`);
      }
    } catch (err) {
      if (err instanceof OptionError) return reply(encodeOptionError(option, err.type, err.message));
      throw err;
    }
  }

  /** "If the chosen export does not exist ... the server MUST terminate the session." */
  private exportName(data: Buffer): Step {
    // Its reply cannot say that the requests will be extended ones (qemu refuses it too).
    if (this.extendedHeaders) {
      throw new NbdProtocolError('UNKNOWN_EXPORT', 'NBD_OPT_EXPORT_NAME after NBD_OPT_EXTENDED_HEADERS');
    }
    const name = decodeWireString(data);
    const exp = name.ok ? this.exports.find(name.value) : undefined;
    if (!exp) {
      throw new NbdProtocolError(
        'UNKNOWN_EXPORT',
        `NBD_OPT_EXPORT_NAME: no export named '${data.toString()}'`,
      );
    }
    const session = this.session(exp);
    return {
      next: 'transmission',
      replies: [encodeExportNameReply({ size: exp.size, flags: session.flags }, this.noZeroes)],
      session,
    };
  }

  private list(data: Buffer): Step {
    // "The client MUST NOT send any additional data with the option, and the server SHOULD reject
    // a request that includes data with NBD_REP_ERR_INVALID."
    if (data.length !== 0) throw new OptionError(NBD_REP.ERR_INVALID, 'NBD_OPT_LIST carries no data');
    const replies = this.exports
      .all()
      .map((e) =>
        encodeOptionReply(
          NBD_OPT.LIST,
          NBD_REP.SERVER,
          encodeServerReply({ name: e.name, description: e.description }),
        ),
      );
    replies.push(encodeOptionReply(NBD_OPT.LIST, NBD_REP.ACK));
    return { next: 'continue', replies };
  }

  private startTls(data: Buffer): Step {
    if (!this.opts.tls) throw new OptionError(NBD_REP.ERR_POLICY, 'TLS is not configured on this server');
    // "If the server receives NBD_OPT_STARTTLS when TLS has already been negotiated, it MUST
    // reply with NBD_REP_ERR_INVALID."
    if (this.tlsActive) throw new OptionError(NBD_REP.ERR_INVALID, 'TLS is already active');
    if (data.length !== 0) throw new OptionError(NBD_REP.ERR_INVALID, 'NBD_OPT_STARTTLS carries no data');
    return { next: 'starttls', replies: [encodeOptionReply(NBD_OPT.STARTTLS, NBD_REP.ACK)] };
  }

  private infoOrGo(option: number, data: Buffer): Step {
    const req = decodeInfoRequest(data);
    const exp = this.exports.find(req.name);
    if (!exp) throw new OptionError(NBD_REP.ERR_UNKNOWN, `no export named '${req.name}'`);
    const session = this.session(exp);
    const info = (i: Parameters<typeof encodeInfo>[0]): Buffer =>
      encodeOptionReply(option, NBD_REP.INFO, encodeInfo(i));
    // "the server MUST send at least one NBD_REP_INFO, with an NBD_INFO_EXPORT information type."
    const replies = [info({ type: 'export', size: exp.size, flags: session.flags })];
    if (req.requests.includes(NBD_INFO.NAME)) replies.push(info({ type: 'name', name: exp.name }));
    if (req.requests.includes(NBD_INFO.DESCRIPTION) && exp.description) {
      replies.push(info({ type: 'description', text: exp.description }));
    }
    // Sent whether asked for or not, as qemu does: the constraints are the defaults' superset
    // (minimum 1 unless the device needs alignment), so no client is refused for not asking.
    replies.push(info({ type: 'block-size', ...exp.sizes }));
    replies.push(encodeOptionReply(option, NBD_REP.ACK));
    if (option === NBD_OPT.INFO) return { next: 'continue', replies };
    return { next: 'transmission', replies, session };
  }

  private structuredReply(data: Buffer): Step {
    if (data.length !== 0) {
      throw new OptionError(NBD_REP.ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY carries no data');
    }
    // Extended headers already give every reply a chunk header; going back is not possible.
    if (this.extendedHeaders) {
      throw new OptionError(NBD_REP.ERR_EXT_HEADER_REQD, 'extended headers are already on');
    }
    // "The client SHOULD NOT send such messages more than once; if it does, the server MAY fail
    // the repeated message with NBD_REP_ERR_INVALID."
    if (this.structuredReplies)
      throw new OptionError(NBD_REP.ERR_INVALID, 'structured replies are already on');
    this.structuredReplies = true;
    return reply(encodeOptionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP.ACK));
  }

  /**
   * NBD_OPT_EXTENDED_HEADERS: from the transmission phase on, requests are 32 bytes with 64-bit
   * lengths and every reply is an extended chunk (extended-request.ts, extended-reply.ts). It
   * implies structured replies.
   */
  private extendedHeadersOption(data: Buffer): Step {
    if (data.length !== 0) {
      throw new OptionError(NBD_REP.ERR_INVALID, 'NBD_OPT_EXTENDED_HEADERS carries no data');
    }
    if (this.extendedHeaders) throw new OptionError(NBD_REP.ERR_INVALID, 'extended headers are already on');
    this.extendedHeaders = true;
    this.structuredReplies = true;
    return reply(encodeOptionReply(NBD_OPT.EXTENDED_HEADERS, NBD_REP.ACK));
  }

  private metaContext(option: number, data: Buffer): Step {
    const set = option === NBD_OPT.SET_META_CONTEXT;
    const what = nameOf(NBD_OPT, 'NBD_OPT', option);
    // SET "replaces all previously-set metadata contexts (including when this command fails)".
    if (set) {
      this.contexts = [];
      this.contextsFor = undefined;
    }
    // SET "MUST NOT be requested unless structured replies have been negotiated first ... a
    // server SHOULD send NBD_REP_ERR_INVALID"; for LIST the server MAY do the same.
    if (!this.structuredReplies) {
      throw new OptionError(NBD_REP.ERR_INVALID, `${what} needs NBD_OPT_STRUCTURED_REPLY first`);
    }
    const req = decodeMetaContextRequest(data, what);
    const exp = this.exports.find(req.name);
    if (!exp) throw new OptionError(NBD_REP.ERR_UNKNOWN, `no export named '${req.name}'`);
    let found: MetaContext[];
    if (req.queries.length === 0) {
      // LIST: "the server MUST return all the metadata contexts"; SET: "MUST select no
      // metadata contexts".
      found = set ? [] : [...META_CONTEXTS];
    } else {
      found = [];
      for (const q of req.queries) {
        for (const c of matchQuery(q, set, what)) if (!found.includes(c)) found.push(c);
      }
    }
    if (set) {
      this.contexts = found;
      this.contextsFor = exp;
    }
    const replies = found.map((c) =>
      encodeOptionReply(
        option,
        NBD_REP.META_CONTEXT,
        encodeMetaContextReply({ id: set ? c.id : 0, name: c.name }),
      ),
    );
    replies.push(encodeOptionReply(option, NBD_REP.ACK));
    return { next: 'continue', replies };
  }

  private session(exp: NbdExport): Session {
    return {
      export: exp,
      structuredReplies: this.structuredReplies,
      extendedHeaders: this.extendedHeaders,
      // Contexts selected for another export do not carry over to this one.
      contexts: this.contextsFor === exp ? this.contexts : [],
      flags: exp.flags(this.structuredReplies),
    };
  }
}

/**
 * The contexts one query selects. A query is "namespace:leaf". In `base:` and `qemu:` an empty
 * leaf is a wildcard for LIST and selects nothing in SET ("the server MUST ignore this form during
 * NBD_OPT_SET_META_CONTEXT"); an unknown leaf or an unknown namespace is ignored ("the server MUST
 * ignore query strings belonging to an unknown namespace"). A query without a namespace is
 * semantically invalid, which the server MAY fail with NBD_REP_ERR_INVALID; we do.
 */
export function matchQuery(query: string, set: boolean, what = 'query'): MetaContext[] {
  const colon = query.indexOf(':');
  if (colon <= 0) throw new OptionError(NBD_REP.ERR_INVALID, `${what}: query '${query}' has no namespace`);
  const ns = query.slice(0, colon + 1);
  const leaf = query.slice(colon + 1);
  const inNs = META_CONTEXTS.filter((c) => c.name.startsWith(ns));
  if (leaf === '') return set ? [] : inNs;
  return inNs.filter((c) => c.name === query);
}

function reply(...replies: Buffer[]): Step {
  return { next: 'continue', replies };
}
