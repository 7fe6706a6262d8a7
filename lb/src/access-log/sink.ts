import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import sonicBoom from 'sonic-boom';
import type { RequestLog, RequestRecord } from '../proxy/observation.js';
import { accessLines } from './line.js';

// CommonJS: its class is the module itself (its own `SonicBoom` property, which the types name).
const { SonicBoom } = sonicBoom;
type SonicBoom = InstanceType<typeof SonicBoom>;

/** Lines waiting for a slow disk beyond this are dropped (and counted), never held without bound. */
const MAX_BUFFERED_BYTES = 16 * 2 ** 20;
/** Lines reach the disk this long after their requests ended, at most (or sooner, once BATCH_LINES gathered). */
const BATCH_MS = 20;
const BATCH_LINES = 256;
const NEWLINE = 0x0a;
/** On shutdown, what is buffered gets this long to be written. */
const CLOSE_TIMEOUT_MS = 2000;

export type AccessLogTarget = 'stdout' | { readonly path: string };

export interface AccessLogEvents {
  /** A write or a reopen failed: the lines stay buffered (up to the bound) and are tried again. */
  error(error: Error): void;
  /** `lines` lines were dropped: the buffer was full. */
  dropped(lines: number): void;
}

/**
 * ACCESS_LOG's destination: records are gathered for up to BATCH_MS (or BATCH_LINES), formatted
 * together and handed to sonic-boom (pino's asynchronous destination) as one chunk, which writes
 * it off the forwarding path. Measured in the LB under load: a line formatted as its request ends
 * costs about 4 us (cold caches between requests), the same line in a batch about 1 us; and one
 * write per batch, not per line, saves a trip through libuv's thread pool each. A slow or failing disk costs lines
 * (counted), never forwarding. A file is opened for appending, and reopened on `reopen()`
 * (SIGHUP, after logrotate moved it). Made directly, not by `pino.destination`: that one also
 * flushes synchronously at exit, which on a disk that fails every write (ENOSPC) retries forever.
 */
export class AccessLogSink implements RequestLog {
  private readonly stream: SonicBoom;
  /** Records not written yet: formatted together, in one tight loop, when handed over. */
  private batch: RequestRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** A regular file, opened by its name: SIGHUP opens it again. */
  private readonly reopenable: boolean;

  constructor(target: AccessLogTarget, events: AccessLogEvents) {
    const dest = destination(target);
    this.reopenable = 'dest' in dest && dest.dest !== 1;
    // Buffers, not strings: a string's bytes would be encoded again after every write, to find where it stopped.
    this.stream = new SonicBoom({
      ...dest,
      sync: false,
      append: true,
      maxLength: MAX_BUFFERED_BYTES,
      contentMode: 'buffer',
    });
    this.stream.on('error', (error: Error) => events.error(error));
    this.stream.on('drop', (data: Buffer) => events.dropped(countLines(data)));
  }

  write(record: RequestRecord): void {
    this.batch.push(record);
    if (this.batch.length >= BATCH_LINES) this.handOver();
    else if (this.timer === undefined) {
      this.timer = setTimeout(this.handOver, BATCH_MS);
      this.timer.unref();
    }
  }

  private readonly handOver = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    const records = this.batch;
    if (records.length === 0) return;
    this.batch = [];
    // contentMode 'buffer' takes Buffers; the types know only strings.
    this.stream.write(accessLines(records) as unknown as string);
  };

  /** The file again by its name (logrotate moved the old one away); stdout, a FIFO or a device stays. */
  reopen(): void {
    if (this.reopenable) this.stream.reopen();
  }

  /** Writes what is buffered (within CLOSE_TIMEOUT_MS; a failing disk loses it), then closes (shutdown). */
  close(): Promise<void> {
    this.handOver();
    const { stream } = this;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stream.destroy(); // a no-op once closed; else what could not be written is dropped
        resolve();
      };
      const timer = setTimeout(done, CLOSE_TIMEOUT_MS);
      stream.once('close', done);
      stream.once('error', done);
      stream.end();
    });
  }
}

/**
 * Where sonic-boom writes. A regular file by its name (it can be reopened). Anything else (a
 * FIFO, a device) opened here without blocking: a write to a FIFO whose reader stalls then fails
 * with EAGAIN and is retried, where a blocking one would hold a thread of libuv's pool for good,
 * and the process could not exit (it waits for its pool's threads). Opening it checks it at
 * start: a path that cannot be opened stops the LB with its reason, not at the first line.
 */
function destination(target: AccessLogTarget): { dest: string | number } | { fd: number } {
  if (target === 'stdout') return { dest: 1 };
  const fd = openSync(target.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK);
  if (fstatSync(fd).isFile()) {
    closeSync(fd);
    return { dest: target.path };
  }
  return { fd };
}

function countLines(data: Buffer): number {
  let lines = 0;
  for (let at = data.indexOf(NEWLINE); at !== -1; at = data.indexOf(NEWLINE, at + 1)) lines++;
  return lines;
}
