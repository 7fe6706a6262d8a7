import { type ClientHttp2Session, type ClientHttp2Stream, constants } from 'node:http2';
import { monotonicMs } from '../../clock.js';
import type { Deadlines, Timed } from '../deadlines.js';
import { isGrpc } from '../header-list.js';
import type { AdmittedRequest } from '../request.js';
import { type AnswerHandler, type Carrier, type Forwarding, type PoolOptions, UpstreamError } from '../upstream.js';
import { grpcTimeoutMs, h2RequestHeaders } from './upstream-headers.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = constants;
/** A gRPC call's own deadline (grpc-timeout) bounds it at the LB too, this much later, so the client's ends it first. */
const GRPC_DEADLINE_GRACE_MS = 1000;

/** What a stream needs of the upstream it belongs to. */
export interface StreamSlot {
  readonly authority: string;
  readonly options: PoolOptions;
  readonly deadlines: Deadlines;
  /** The stream is over (answered, failed or abandoned): the session has one fewer. */
  ended(session: ClientHttp2Session): void;
}

/**
 * One exchange as a stream of a shared h2c session. Until the answer's head arrives, the attempt's
 * deadline bounds it (a gRPC call's own `grpc-timeout` in its place); after it, a plain answer may
 * not stall longer than UPSTREAM_TIMEOUT_MS between two pieces, while a gRPC stream is long by
 * design and bounded only by its own deadline.
 */
export class H2cStream implements Carrier, Timed {
  deadline = 0;
  answering = false;
  private stream: ClientHttp2Stream | undefined;
  private handler: AnswerHandler | undefined;
  /** The body between pieces of the answer is timed (not a gRPC stream). */
  private idleBounded = true;
  private errorCode: string | undefined;
  private over = false;

  constructor(
    private readonly slot: StreamSlot,
    private readonly session: ClientHttp2Session,
    /** The session carried streams before this one (a GOAWAY may have crossed this request). */
    readonly reused: boolean,
  ) {}

  send(handler: AnswerHandler, request: AdmittedRequest, up: Forwarding, deadline: number, upgrade: boolean): void {
    this.handler = handler;
    if (upgrade) {
      this.failSoon(new UpstreamError('H2C_NO_UPGRADE', 'an h2c replica cannot switch protocols'));
      return;
    }
    const grpc = isGrpc(request.headers);
    const own = grpc ? grpcTimeoutMs(request.headers) : undefined;
    this.idleBounded = !grpc;
    this.deadline = own === undefined ? deadline : monotonicMs() + own + GRPC_DEADLINE_GRACE_MS;
    this.slot.deadlines.watch(this);
    let stream: ClientHttp2Stream;
    try {
      stream = this.session.request(h2RequestHeaders(request, up, this.slot.authority), {
        endStream: !request.hasBody,
      });
    } catch (error) {
      // The session closed in this turn of the loop (a GOAWAY): safe to send again elsewhere.
      this.failSoon(new UpstreamError('REFUSED_STREAM', (error as Error).message));
      return;
    }
    this.stream = stream;
    stream.on('response', (_headers: unknown, flags: number, raw: string[]) =>
      this.onHead(raw, (flags & NGHTTP2_FLAG_END_STREAM) !== 0),
    );
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (_headers: unknown, _flags: number, raw: string[]) =>
      this.handler?.onResponseTrailers?.(withoutPseudo(raw)),
    );
    stream.on('end', () => this.onEnd());
    stream.on('drain', () => this.handler?.onUpstreamDrain());
    stream.on('error', (error: NodeJS.ErrnoException) => {
      this.errorCode ??= error.code;
    });
    stream.on('close', () => this.onClose(stream.rstCode));
  }

  writeBody(chunk: Buffer): boolean {
    const { stream } = this;
    if (stream === undefined || stream.destroyed || stream.writableEnded) return true;
    return stream.write(chunk);
  }

  endBody(): void {
    const { stream } = this;
    if (stream !== undefined && !stream.destroyed && !stream.writableEnded) stream.end();
  }

  pause(): void {
    this.stream?.pause();
  }

  resume(): void {
    this.stream?.resume();
  }

  /** Abandoned: the replica is told to stop (CANCEL), or that the rest of the request is not needed. */
  destroy(): void {
    this.handler = undefined;
    const { stream } = this;
    if (stream !== undefined && !stream.closed) stream.close(stream.readableEnded ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
    this.end();
  }

  expire(): void {
    this.fail(new UpstreamError(this.answering ? 'BODY_TIMEOUT' : 'HEADERS_TIMEOUT'));
    this.destroy();
  }

  private onHead(raw: string[], whole: boolean): void {
    let status = 0;
    for (let k = 0; k < raw.length; k += 2) if (raw[k] === ':status') status = Number(raw[k + 1]);
    this.answering = true;
    this.deadline = this.idleBounded ? monotonicMs() + this.slot.options.responseTimeoutMs : 0;
    this.handler?.onResponseHead({ status, headers: withoutPseudo(raw), whole });
  }

  private onData(chunk: Buffer): void {
    if (this.idleBounded) this.deadline = monotonicMs() + this.slot.options.responseTimeoutMs;
    this.handler?.onResponseBody(chunk);
  }

  private onEnd(): void {
    // node:http2 ends a stream whose session died, after 'aborted': that answer is not whole.
    if (this.stream?.aborted) {
      this.onClose(this.stream.rstCode);
      return;
    }
    const handler = this.handler;
    this.handler = undefined;
    this.end();
    handler?.onResponseComplete();
  }

  private onClose(rstCode: number | undefined): void {
    if (this.handler !== undefined) {
      const code =
        rstCode === NGHTTP2_REFUSED_STREAM
          ? 'REFUSED_STREAM'
          : (this.errorCode ?? `RST_STREAM_${rstCode ?? 'UNKNOWN'}`);
      this.fail(new UpstreamError(code, 'the replica reset the stream'));
    }
    this.end();
  }

  private fail(error: UpstreamError): void {
    const handler = this.handler;
    this.handler = undefined;
    handler?.onUpstreamError(error);
  }

  /** Told after the leg has taken the stream, as a connection's failures come. */
  private failSoon(error: UpstreamError): void {
    process.nextTick(() => this.fail(error));
    this.end();
  }

  private end(): void {
    if (this.over) return;
    this.over = true;
    this.deadline = 0;
    this.slot.deadlines.unwatch(this);
    this.slot.ended(this.session);
  }
}

/** Header fields without the pseudo-headers (`:status`), as [name, value, ...]. */
function withoutPseudo(raw: readonly string[]): string[] {
  const fields: string[] = [];
  for (let k = 0; k < raw.length; k += 2) if (!raw[k]!.startsWith(':')) fields.push(raw[k]!, raw[k + 1]!);
  return fields;
}
