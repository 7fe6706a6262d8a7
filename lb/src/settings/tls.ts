import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from './errors.js';

/** TLS_CERT and TLS_KEY: where the PEM files are, and what they held when last read. */
export interface TlsFiles {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Both or neither: one alone is a mistake, never "no TLS". Files that cannot be used stop the LB. */
export function tlsFiles(certPath: string | undefined, keyPath: string | undefined): TlsFiles | undefined {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    throw new ConfigError(
      `TLS_CERT and TLS_KEY go together: set both (PEM files) or neither (${certPath === undefined ? 'TLS_KEY' : 'TLS_CERT'} is set alone)`,
    );
  }
  return readTlsFiles(certPath, keyPath);
}

/**
 * Reads and checks a certificate and its key (at start, and again on SIGHUP): a file that cannot
 * be read, or a pair that does not belong together, is a ConfigError naming the variable.
 */
export function readTlsFiles(certPath: string, keyPath: string): TlsFiles {
  const cert = readPem('TLS_CERT', certPath);
  const key = readPem('TLS_KEY', keyPath);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new ConfigError(`TLS_CERT and TLS_KEY cannot be used together: ${(error as Error).message}`);
  }
  return { certPath, keyPath, cert, key };
}

function readPem(name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${name} cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'} '${path}'`);
  }
}
