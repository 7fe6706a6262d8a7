import { maxHeaderSize } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { readBegins, readEnds } from '../../clock.js';

/**
 * Node's own HTTP/1 parser (llhttp behind `node:_http_common`, the one node:http uses), so the
 * data plane accepts and rejects exactly what Node does without node:http's per-request objects.
 */
interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | ParseError;
  finish(): undefined | ParseError;
  close(): void;
  consume(handle: object): void;
  unconsume(): void;
  getCurrentBuffer(): Buffer;
  /** False from a message's first byte until its head is whole (and in a parser that read nothing yet). */
  headersCompleted(): boolean;
  // biome-ignore lint/suspicious/noExplicitAny: llhttp calls each slot with its own arguments (kOn* below)
  [callback: number]: ((...args: any[]) => unknown) | null;
}
interface NativeParserClass {
  new (): NativeParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
}

/** What `execute` returns when the bytes are not HTTP: `code` is llhttp's (HPE_...). */
export interface ParseError extends Error {
  readonly code: string;
  readonly reason?: string;
  readonly bytesParsed: number;
}

const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: NativeParserClass; methods: string[] };
const Native = common.HTTPParser;
const METHODS = common.methods;

/** One message's head, as the parser reports it. */
export interface Head {
  readonly versionMajor: number;
  readonly versionMinor: number;
  /** [name, value, ...] as received. */
  readonly headers: string[];
  /** Requests only. */
  readonly method: string;
  readonly url: string;
  /** Responses only. */
  readonly status: number;
  readonly statusMessage: string;
  /** llhttp saw `Connection: upgrade` + `Upgrade` (or CONNECT): the bytes after the head are not HTTP. */
  readonly upgrade: boolean;
  readonly keepAlive: boolean;
}

export interface ParserHandler {
  /**
   * A message's first byte, for a handler that has this: llhttp then calls into JS for every
   * message. One without it learns of a message begun, its head not yet whole, from `midHead()`.
   */
  onMessageBegin?(): void;
  /** Return 1 for a response that has no body whatever its headers say (the answer to HEAD). */
  onHead(head: Head): number;
  onBody(chunk: Buffer): void;
  onMessageComplete(): void;
}

export type ParserKind = 'request' | 'response';

/** Who reads what a parser consuming a socket parsed (see `consume`). */
export interface ParsedReader {
  onParsed(result: number | ParseError, chunk: () => Buffer): void;
}

/**
 * A parser bound to a handler. Heads split over several reads arrive in pieces
 * (`kOnHeaders`); they are put together here so the handler sees one head.
 */
export class HttpParser {
  private readonly native = new Native();
  private pendingHeaders: string[] = [];
  private pendingUrl = '';
  private readonly onBegin: (() => void) | null;

  constructor(kind: ParserKind, handler: ParserHandler) {
    const native = this.native;
    native.initialize(kind === 'request' ? Native.REQUEST : Native.RESPONSE, {}, maxHeaderSize, 0);
    // Each callback marks the read it belongs to (see clock.ts): its times are one reading of the clock.
    const onMessageBegin = handler.onMessageBegin?.bind(handler);
    this.onBegin =
      onMessageBegin === undefined
        ? null
        : () => {
            readBegins();
            onMessageBegin();
          };
    native[Native.kOnMessageBegin] = this.onBegin;
    native[Native.kOnHeaders] = (headers: string[], url: string) => {
      readBegins();
      for (const item of headers) this.pendingHeaders.push(item);
      this.pendingUrl += url;
    };
    native[Native.kOnHeadersComplete] = (
      versionMajor: number,
      versionMinor: number,
      headers: string[] | undefined,
      method: number | undefined,
      url: string | undefined,
      status: number | undefined,
      statusMessage: string | undefined,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      readBegins();
      if (headers === undefined) {
        headers = this.pendingHeaders;
        this.pendingHeaders = [];
      }
      if (!url) {
        url = this.pendingUrl;
        this.pendingUrl = '';
      }
      return handler.onHead({
        versionMajor,
        versionMinor,
        headers,
        method: method === undefined ? '' : METHODS[method]!,
        url,
        status: status ?? 0,
        statusMessage: statusMessage ?? '',
        upgrade,
        keepAlive,
      });
    };
    native[Native.kOnBody] = (chunk: Buffer) => {
      readBegins();
      handler.onBody(chunk);
    };
    native[Native.kOnMessageComplete] = () => {
      readBegins();
      // Trailers arrive through kOnHeaders too: they are not forwarded, and must not leak into the next head.
      if (this.pendingHeaders.length > 0) this.pendingHeaders = [];
      this.pendingUrl = '';
      handler.onMessageComplete();
    };
    native[Native.kOnExecute] = null;
  }

  /**
   * After a read that parsed bytes: it ended inside a message's head (llhttp's own record of the
   * message begun, which it keeps whether or not `onMessageBegin` is heard).
   */
  midHead(): boolean {
    return !this.native.headersCompleted();
  }

  /**
   * Whether llhttp calls `onMessageBegin` (it does, as made, when the handler has one). Off while
   * a message's beginning is known to mean nothing to the handler (an upstream connection awaiting
   * its answer): llhttp then skips a call into JS per message.
   */
  hearBegins(on: boolean): void {
    this.native[Native.kOnMessageBegin] = on ? this.onBegin : null;
  }

  /**
   * Reads the socket in C++ (as node:http's server does): each read is parsed without a
   * JS 'data' event or a Buffer of its own; `reader` gets what `execute` would return and
   * the chunk's unparsed rest when llhttp stopped early (after an Upgrade message).
   * Pause and resume the socket with `readStop`/`readStart` on its handle then.
   */
  consume(socket: Socket, reader: ParsedReader): boolean {
    const handle = (socket as unknown as { _handle?: object })._handle;
    if (!handle) return false;
    const native = this.native;
    // One closure for every read: the reader asks for the chunk only when llhttp stopped short.
    const current = (): Buffer => native.getCurrentBuffer();
    native[Native.kOnExecute] = (result: number | ParseError) => {
      try {
        reader.onParsed(result, current);
      } finally {
        readEnds();
      }
    };
    this.native.consume(handle);
    return true;
  }

  /** Parses `data`; returns the bytes consumed, or the error that stopped it. */
  execute(data: Buffer): number | ParseError {
    const result = this.native.execute(data);
    readEnds();
    return result;
  }

  /** The connection ended: completes a message framed by the close, or says it was cut short. */
  finish(): ParseError | undefined {
    const result = this.native.finish();
    readEnds();
    return result;
  }

  /** Closed, perhaps from its own callback: that read's end (kOnExecute) is not heard of. */
  close(): void {
    readEnds();
    this.native[Native.kOnExecute] = null;
    this.native.close();
  }

  /**
   * The socket leaves HTTP (a switched protocol): it is read by its JS stream again, not by this
   * parser. Called from the parser's own callbacks, so the native parser is freed on the next turn
   * (freeing it under its own stack frame crashes the process; node:http defers it the same way).
   */
  release(consumed: boolean): void {
    readEnds();
    this.native[Native.kOnExecute] = null;
    if (consumed) this.native.unconsume();
    const native = this.native;
    setImmediate(() => native.close());
  }
}

/** What a read held past the `parsed` bytes llhttp took (a copy: the read's buffer is reused). */
export function restOf(parsed: number, data: Buffer): Buffer | undefined {
  return parsed < data.length ? Buffer.from(data.subarray(parsed)) : undefined;
}

export function isParseError(value: unknown): value is ParseError {
  return value instanceof Error;
}
