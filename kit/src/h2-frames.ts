import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** HTTP/2 frames by hand (RFC 9113 4.1), for clients that misbehave on purpose. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** A header block of literal fields without indexing and without Huffman (RFC 7541 6.2.2): names as given. */
export function headerBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) parts.push(Buffer.from([0]), literal(name), literal(value));
  return Buffer.concat(parts);
}

function literal(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length < 127) return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  // A length of 127 or more: 7-bit prefix integer (RFC 7541 5.1).
  const octets = [127];
  let rest = bytes.length - 127;
  while (rest >= 128) {
    octets.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  octets.push(rest);
  return Buffer.concat([Buffer.from(octets), bytes]);
}

/** SETTINGS with the given (id, value) pairs. */
export function settings(pairs: readonly (readonly [number, number])[] = []): Buffer {
  const payload = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, value], k) => {
    payload.writeUInt16BE(id, 6 * k);
    payload.writeUInt32BE(value, 6 * k + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

export function rstStream(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
}

/** A GET of `path` on `stream`, its headers in one frame that ends the stream. */
export function get(stream: number, path: string, extra: readonly (readonly [string, string])[] = []): Buffer {
  const block = headerBlock([[':method', 'GET'], [':scheme', 'http'], [':path', path], [':authority', 'lb'], ...extra]);
  return frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, stream, block);
}

/** What the server sent on a raw connection, as frames, and how the connection ended. */
export interface RawH2 {
  readonly socket: Socket;
  /** Every frame received so far: type, flags, stream, payload. */
  readonly frames: { type: number; flags: number; stream: number; payload: Buffer }[];
  readonly closed: Promise<void>;
  /** The GOAWAY's error code, once one came. */
  goawayCode(): number | undefined;
  send(data: Buffer): boolean;
}

/** A raw HTTP/2 connection to `port` (preface and an empty SETTINGS sent, unless `opening` says otherwise). */
export async function rawH2(port: number, opening: Buffer = Buffer.concat([PREFACE, settings()])): Promise<RawH2> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const frames: RawH2['frames'] = [];
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      frames.push({
        type: pending[3]!,
        flags: pending[4]!,
        stream: pending.readUInt32BE(5) & 0x7fffffff,
        payload: pending.subarray(9, 9 + length),
      });
      pending = pending.subarray(9 + length);
    }
  });
  socket.on('error', () => undefined);
  const closed = once(socket, 'close').then(() => undefined);
  socket.write(opening);
  return {
    socket,
    frames,
    closed,
    goawayCode: () => frames.find((f) => f.type === FRAME.GOAWAY)?.payload.readUInt32BE(4),
    // A connection the server closed takes no more (what a flood sends after it is lost).
    send: (data) => socket.writable && socket.write(data),
  };
}
