import { closeSync, openSync } from 'node:fs';
import sonicBoom from 'sonic-boom';
import type { RequestLog, RequestRecord } from '../proxy/observation.js';
import { accessLine } from './line.js';

// CommonJS: its class is the module itself (its own `SonicBoom` property, which the types name).
const { SonicBoom } = sonicBoom;
type SonicBoom = InstanceType<typeof SonicBoom>;

/** Lines waiting for a slow disk beyond this are dropped (and counted), never held without bound. */
const MAX_BUFFERED_BYTES = 16 * 2 ** 20;
/** On shutdown, what is buffered gets this long to be written. */
const CLOSE_TIMEOUT_MS = 2000;

export type AccessLogTarget = 'stdout' | { readonly path: string };

export interface AccessLogEvents {
  /** A write or a reopen failed: the lines stay buffered (up to the bound) and are tried again. */
  error(error: Error): void;
  /** A line was dropped: the buffer was full. */
  dropped(): void;
}

/**
 * ACCESS_LOG's destination: lines are handed to sonic-boom (pino's asynchronous destination),
 * which writes them in batches off the forwarding path; a slow or failing disk costs lines
 * (counted), never forwarding. A file is opened for appending, and reopened on `reopen()`
 * (SIGHUP, after logrotate moved it). Made directly, not by `pino.destination`: that one also
 * flushes synchronously at exit, which on a disk that fails every write (ENOSPC) retries forever.
 */
export class AccessLogSink implements RequestLog {
  private readonly stream: SonicBoom;

  constructor(
    private readonly target: AccessLogTarget,
    events: AccessLogEvents,
  ) {
    // A file that cannot be opened stops the LB at start with its reason, not at the first line.
    if (target !== 'stdout') closeSync(openSync(target.path, 'a'));
    this.stream = new SonicBoom({
      dest: target === 'stdout' ? 1 : target.path,
      sync: false,
      append: true,
      maxLength: MAX_BUFFERED_BYTES,
    });
    this.stream.on('error', (error: Error) => events.error(error));
    this.stream.on('drop', () => events.dropped());
  }

  write(record: RequestRecord): void {
    this.stream.write(accessLine(record));
  }

  /** The file again by its name (logrotate moved the old one away); stdout stays. */
  reopen(): void {
    if (this.target !== 'stdout') this.stream.reopen();
  }

  /** Writes what is buffered (within CLOSE_TIMEOUT_MS; a failing disk loses it), then closes (shutdown). */
  close(): Promise<void> {
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
