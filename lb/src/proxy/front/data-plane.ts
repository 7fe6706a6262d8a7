import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import { monotonicMs } from '../../clock.js';
import { pathOf } from '../../contract/errors.js';
import { ownPathMethod } from '../../contract/paths.js';
import type { TlsFiles } from '../../settings/tls.js';
import type { Deadlines } from '../deadlines.js';
import { Exchange } from '../exchange.js';
import type { Forwarder } from '../forwarder.js';
import { ClientConnection, type ConnectionHost } from '../http1/client-connection.js';
import { type ClientSide, Relay } from '../http1/relay.js';
import { KEEP_ALIVE_SECONDS } from '../http1/wire.js';
import { Http2Front, type StreamHost } from '../http2/front.js';
import { type Observers, VIA_H1, VIA_H1_TLS, VIA_H2, VIA_H2_TLS, type Via } from '../observation.js';
import { type OwnRoute, OwnRouteStrategy } from '../own-route.js';
import type { RelayStrategy, RequestClient } from '../relay-strategy.js';
import type { AdmittedRequest } from '../request.js';
import { type Protocol, Sniffing, type SniffOwner } from './sniffing.js';

/** Where each of the LB's own paths is served. */
export type OwnRoutes = (path: string) => OwnRoute;

export interface DataPlaneOptions {
  readonly forwarder: Forwarder;
  /**
   * Where the LB's own paths go (/rep, /add, /rm, /metrics, /membership, /dashboard): Fastify on
   * an internal socket, or the controller's; and the error when they cannot be reached.
   */
  readonly ownRoute: OwnRoutes;
  readonly deadlines: Deadlines;
  /** The whole request, head and body, must arrive within this. */
  readonly requestTimeoutMs: number;
  /** On shutdown, idle connections stay open this long for a request already on its way. */
  readonly shutdownGraceMs: number;
  /** The access log and tracer (ACCESS_LOG, OTEL_*); none by default. */
  readonly observers?: Observers;
  /** Streams one HTTP/2 client connection may have open at once. */
  readonly h2MaxConcurrentStreams?: number;
  /** TLS_CERT and TLS_KEY: the port speaks TLS only, HTTP/2 or HTTP/1.1 as ALPN chooses. */
  readonly tls?: TlsFiles | undefined;
  /** Told of every client connection served, once its protocol is known (metrics). */
  readonly onConnection?: (via: Via) => void;
}

/** SETTINGS_MAX_CONCURRENT_STREAMS when none is given (nginx's and Envoy's default too). */
const H2_MAX_CONCURRENT_STREAMS = 100;

/**
 * The front door: client connections on raw sockets, each served in the protocol its first bytes
 * say (the HTTP/2 preface, else HTTP/1.1). Forwarded requests go to replicas; the LB's own paths
 * go, the same way, to its Fastify app on an internal socket.
 */
export class DataPlane implements ConnectionHost, StreamHost, SniffOwner {
  readonly keepAliveTimeoutMs = KEEP_ALIVE_SECONDS * 1000;
  readonly requestTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly ownRoute: OwnRoutes;
  readonly observers: Observers;
  closing = false;
  private readonly server: Server;
  private readonly connections = new Set<ClientConnection>();
  /** New connections whose protocol is not known yet. */
  private readonly sniffing = new Set<Sniffing>();
  private readonly h2: Http2Front;
  /** TLS: every TCP connection, until it closes (one still in its handshake is no connection yet). */
  private readonly raw = new Set<Socket>();
  private emptied: (() => void) | undefined;

  constructor(private readonly options: DataPlaneOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.shutdownGraceMs = options.shutdownGraceMs;
    this.ownRoute = options.ownRoute;
    this.observers = options.observers ?? { requestLog: undefined, tracer: undefined };
    this.h2 = new Http2Front(this, {
      maxConcurrentStreams: options.h2MaxConcurrentStreams ?? H2_MAX_CONCURRENT_STREAMS,
    });
    // Half-open: a client that ends its side after sending still gets its answers.
    const { tls } = options;
    this.server = tls
      ? createTlsServer(
          // Not half-open during the handshake: a client that hangs up in it is gone (see acceptSecure).
          // The handshake counts against the request's bound (node's own is 120 s).
          {
            cert: tls.cert,
            key: tls.key,
            ALPNProtocols: ['h2', 'http/1.1'],
            allowHalfOpen: false,
            handshakeTimeout: options.requestTimeoutMs,
          },
          (socket) => this.acceptSecure(socket),
        )
      : createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    // A failed or timed-out handshake is the client's: its socket goes (node leaves a timed-out one open).
    this.server.on('tlsClientError', (_error: Error, socket: TLSSocket) => socket.destroy());
    if (tls) this.server.on('connection', (socket: Socket) => this.trackRaw(socket));
  }

  /** Resolves to the URL it listens on. */
  listen(port: number, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => reject(listenError(error, port, host));
      this.server.once('error', failed);
      this.server.listen(port, host, () => {
        this.server.off('error', failed);
        const address = this.server.address() as AddressInfo;
        const scheme = this.options.tls ? 'https' : 'http';
        resolve(`${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
      });
    });
  }

  relayFor(client: ClientSide, request: AdmittedRequest): Relay {
    return new Relay(client, request, this.strategyFor(client, request));
  }

  /** The LB's own paths go to its app, every other request to a replica. */
  strategyFor(client: RequestClient, request: AdmittedRequest): RelayStrategy {
    if (ownPathMethod(request.path) !== undefined) return new OwnRouteStrategy(this.ownRoute(pathOf(request.path)));
    return new Exchange(this.options.forwarder, client, request);
  }

  closed(connection: ClientConnection): void {
    this.connections.delete(connection);
    this.options.deadlines.unwatch(connection);
    this.checkEmptied();
  }

  sessionClosed(): void {
    this.checkEmptied();
  }

  decided(sniffing: Sniffing, protocol: Protocol, first: Buffer): void {
    this.sniffing.delete(sniffing);
    this.options.deadlines.unwatch(sniffing);
    this.options.onConnection?.(protocol === 'h2' ? VIA_H2 : VIA_H1);
    if (protocol === 'h2') {
      this.h2.serve(sniffing.socket, first);
      return;
    }
    this.serveHttp1(sniffing.socket, first);
  }

  abandoned(sniffing: Sniffing): void {
    this.sniffing.delete(sniffing);
    this.options.deadlines.unwatch(sniffing);
    this.checkEmptied();
  }

  /**
   * Stops accepting; tunnels close at once (they left the connection list, and the server's
   * close would wait for them: a WebSocket client may never hang up); busy connections close
   * after their next answer (sent with `Connection: close`), idle ones after the shutdown grace;
   * whatever is still open after `boundMs` is cut.
   */
  async close(boundMs: number): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.options.forwarder.closeTunnels();
    for (const connection of this.connections) connection.drain();
    // A connection that sent nothing yet gets the grace an idle one gets.
    for (const sniffing of this.sniffing) sniffing.deadline = monotonicMs() + this.shutdownGraceMs;
    this.h2.drain();
    if (!this.isEmpty) {
      const emptied = new Promise<void>((resolve) => (this.emptied = resolve));
      const cut = setTimeout(() => {
        for (const connection of this.connections) connection.socket.destroy();
        for (const sniffing of this.sniffing) sniffing.socket.destroy();
        this.h2.destroyAll();
      }, boundMs);
      await emptied;
      clearTimeout(cut);
    }
    // What is left are TLS handshakes that never finished: the server's close would wait for them.
    for (const socket of this.raw) socket.destroy();
    await stopped;
  }

  /** Client connections open now, by protocol (the dashboard). */
  clientCounts(): { h1: number; h2: number } {
    return { h1: this.connections.size, h2: this.h2.size };
  }

  private get isEmpty(): boolean {
    return this.connections.size === 0 && this.sniffing.size === 0 && this.h2.size === 0;
  }

  private checkEmptied(): void {
    if (this.isEmpty) this.emptied?.();
  }

  /** SIGHUP: the certificate and key read again; connections already open keep theirs. */
  reloadTls(files: TlsFiles): void {
    (this.server as TlsServer).setSecureContext({ cert: files.cert, key: files.key });
  }

  /** After the handshake ALPN has chosen: `h2`, else HTTP/1.1 (a client that offered none). */
  private acceptSecure(socket: TLSSocket): void {
    const h2 = socket.alpnProtocol === 'h2';
    this.options.onConnection?.(h2 ? VIA_H2_TLS : VIA_H1_TLS);
    if (h2) {
      this.h2.serve(socket);
      return;
    }
    // Half-open from now on, as on cleartext: a client that ends its side still gets its answers.
    socket.allowHalfOpen = true;
    this.serveHttp1(socket);
  }

  /** `first`: what was read of the socket to pick its protocol. */
  private serveHttp1(socket: Socket, first?: Buffer): void {
    const connection = new ClientConnection(socket, this, first);
    this.connections.add(connection);
    this.options.deadlines.watch(connection);
  }

  private trackRaw(socket: Socket): void {
    this.raw.add(socket);
    socket.once('close', () => this.raw.delete(socket));
  }

  /** Until its first bytes come, a connection waits as long as an idle keep-alive one. */
  private accept(socket: Socket): void {
    const idleFor = this.closing ? this.shutdownGraceMs : this.keepAliveTimeoutMs;
    const sniffing = new Sniffing(socket, this, monotonicMs() + idleFor);
    this.sniffing.add(sniffing);
    this.options.deadlines.watch(sniffing);
  }
}

/** A listen error in words an operator acts on: a port in use names the variable that moves it. */
export function listenError(error: NodeJS.ErrnoException, port: number, host: string): Error {
  if (error.code === 'EADDRINUSE') {
    return new Error(`port ${port} on ${host} is already in use: stop what holds it, or choose another with PORT`);
  }
  if (error.code === 'EACCES')
    return new Error(`no permission to listen on port ${port} on ${host} (choose one above 1023 with PORT)`);
  return error;
}

/** Checks that the LB port is free before replicas start (it is bound for real later). */
export function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error) => reject(listenError(error, port, host)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
