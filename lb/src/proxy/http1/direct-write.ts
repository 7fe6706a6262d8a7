import type { Socket } from 'node:net';

interface WriteRequest {
  handle: object;
  /** Called by the handle with the request as `this`. */
  oncomplete: (this: WriteRequest, status: number) => void;
  writer: DirectWriter;
  async: boolean;
  bytes: number;
  buffer: Buffer | null;
}
/** What `writableLength` and `writableCorked` read. */
interface WritableState {
  readonly length: number;
  readonly corked: number;
}
interface StreamHandle {
  writeBuffer(req: WriteRequest, data: Buffer): number;
  writeLatin1String(req: WriteRequest, data: string): number;
}

const { WriteWrap, streamBaseState, kLastWriteWasAsync } = (
  process as unknown as { binding(name: string): unknown }
).binding('stream_wrap') as {
  WriteWrap: new () => WriteRequest;
  /** Where the handle's last write says whether it finished at once (node:net reads it the same way). */
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
};

/**
 * A write request the kernel took whole at once: the handle never bound it (libuv got no
 * request), so the next write takes it instead of a new WriteWrap (node:net makes one a write).
 */
let spare: WriteRequest | undefined;

/**
 * Writes to a socket's handle past the Writable stream (node:net's own writeGeneric, minus the
 * stream bookkeeping: about a tenth of the data plane's CPU per request). Only while the stream
 * holds nothing and is not corked, so bytes keep their order (libuv queues a handle's writes in
 * order); otherwise through `socket.write`. Strings are latin1, as every head the LB builds.
 */
export class DirectWriter {
  /** Direct writes the kernel has not taken yet. */
  private pending = 0;
  /** The stream's own state, read in place of its getters (shared by every kind of stream, so megamorphic). */
  private readonly state: WritableState;

  /** `owner.onWriteDrain` runs when a write that returned false has gone out (as 'drain' does for the stream). */
  constructor(
    private readonly socket: Socket,
    private readonly owner: WriteOwner,
  ) {
    this.state = (socket as unknown as { _writableState: WritableState })._writableState;
  }

  /** False when the kernel did not take it all at once: wait for `drained`. */
  write(data: string | Buffer): boolean {
    const { socket, state } = this;
    // A destroyed socket has no handle (node:net drops it in _destroy, synchronously).
    const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle;
    if (!handle || state.length > 0 || state.corked > 0 || socket.connecting) {
      return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
    }
    const req = spare ?? new WriteWrap();
    spare = undefined;
    req.handle = handle;
    req.async = false;
    req.bytes = 0;
    req.buffer = null;
    req.oncomplete = completed;
    req.writer = this;
    const error = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
    if (error !== 0) {
      socket.destroy(); // 'close' follows, as for a failed stream write
      return true;
    }
    if (streamBaseState[kLastWriteWasAsync] === 0) {
      spare = req;
      return true;
    }
    req.async = true;
    if (typeof data !== 'string') req.buffer = data; // kept alive until written
    this.pending++;
    return false;
  }

  /** A direct write the kernel did not take at once has gone out, or failed. */
  written(status: number): void {
    this.pending--;
    if (status < 0) this.socket.destroy();
    else if (this.pending === 0) this.owner.onWriteDrain();
  }
}

/** Who writes through a DirectWriter, told when its writes have gone out. */
export interface WriteOwner {
  onWriteDrain(): void;
}

/** One function for every write request (no closure per writer: an idle connection holds less). */
function completed(this: WriteRequest, status: number): void {
  this.writer.written(status);
}
