import type { Socket } from 'node:net';

/**
 * What serves a socket (an HTTP connection, a client's or a replica's, or a tunnel, which serves
 * two): what the socket's events call, each with the socket it came from.
 */
export interface SocketConnection {
  /** Bytes read by the JS stream (a socket whose handle the parser could not take, or a tunnel's). */
  onData(chunk: Buffer, socket: Socket): void;
  /** The socket took what it could not take at once. */
  onWriteDrain(socket: Socket): void;
  onEnd(socket: Socket): void;
  onError(error: NodeJS.ErrnoException, socket: Socket): void;
  onClose(socket: Socket): void;
}

const CONNECTION = Symbol('connection');
type ServedSocket = Socket & { [CONNECTION]?: SocketConnection };

/**
 * `connection` serves `socket`. Its listeners are functions shared by every connection, which
 * find theirs on the socket: an idle connection holds no closures of its own (memory per idle
 * connection). 'data' is not listened to: see `readByStream`.
 */
export function serveSocket(socket: Socket, connection: SocketConnection): void {
  (socket as ServedSocket)[CONNECTION] = connection;
  for (const [event, listener] of LISTENERS) if (event !== 'data') socket.on(event, listener);
}

/** The socket is read by its JS stream ('data'), for a parser that could not read it in C++. */
export function readByStream(socket: Socket): void {
  socket.on('data', onData);
}

/** The connection `socket` serves (for a listener of a connection's own). */
export function connectionOf<T extends SocketConnection>(socket: Socket): T | undefined {
  return (socket as ServedSocket)[CONNECTION] as T | undefined;
}

/** The socket is served no more by its connection (it left HTTP for a tunnel): node's own listeners stay. */
export function leaveSocket(socket: Socket): void {
  for (const [event, listener] of LISTENERS) socket.off(event, listener);
  (socket as ServedSocket)[CONNECTION] = undefined;
}

// The socket's listeners, one function each for every connection (`this` is the socket).
function onData(this: ServedSocket, chunk: Buffer): void {
  this[CONNECTION]?.onData(chunk, this);
}
function onDrain(this: ServedSocket): void {
  this[CONNECTION]?.onWriteDrain(this);
}
function onEnd(this: ServedSocket): void {
  this[CONNECTION]?.onEnd(this);
}
function onError(this: ServedSocket, error: NodeJS.ErrnoException): void {
  this[CONNECTION]?.onError(error, this);
}
function onClose(this: ServedSocket): void {
  this[CONNECTION]?.onClose(this);
}

// biome-ignore lint/suspicious/noExplicitAny: each event passes its own arguments
const LISTENERS: readonly (readonly [string, (...args: any[]) => void])[] = [
  ['data', onData],
  ['drain', onDrain],
  ['end', onEnd],
  ['error', onError],
  ['close', onClose],
];
