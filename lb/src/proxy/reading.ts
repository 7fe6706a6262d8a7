import type { Socket } from 'node:net';

interface StreamHandle {
  readStart(): number;
  readStop(): number;
}

/**
 * Stops or restarts reading a socket whose parser consumes its handle (no JS 'data' events):
 * the kernel keeps the bytes, and TCP flow control slows the peer.
 */
export function setReading(socket: Socket, consumed: boolean, on: boolean): void {
  if (!consumed) {
    if (on) socket.resume();
    else socket.pause();
    return;
  }
  const handle = (socket as unknown as { _handle?: StreamHandle })._handle;
  if (!handle || socket.destroyed) return;
  if (on) handle.readStart();
  else handle.readStop();
}
