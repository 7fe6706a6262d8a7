import { constants, type Http2Session } from 'node:http2';

const { NGHTTP2_ENHANCE_YOUR_CALM } = constants;

/** nghttp2's errors for a client that floods (SETTINGS, PING, RST_STREAM acks: -904) or sends endless CONTINUATION (-905). */
const FLOODING_ERRNOS = new Set([-904, -905]);

/**
 * Rapid reset (CVE-2023-44487): a client that resets at least half of its streams before their
 * answer, once it has opened this many, is closed (Envoy's premature-reset rule).
 */
const PREMATURE_RESET_MIN_STREAMS = 100;

/**
 * The limits of one client session that node:http2 leaves to its user: floods are closed with
 * GOAWAY ENHANCE_YOUR_CALM (node would say INTERNAL_ERROR, as if the LB had failed), and a client
 * that mostly resets its streams is closed the same way.
 */
export class SessionGuard {
  private opened = 0;
  private premature = 0;

  constructor(private readonly session: Http2Session) {
    // node:http2 destroys the session when nghttp2 detects a flood; the code it sends is ours to say.
    const destroy = session.destroy.bind(session);
    session.destroy = (error?: Error, code?: number) =>
      destroy(error, code ?? (isFlooding(error) ? NGHTTP2_ENHANCE_YOUR_CALM : undefined));
  }

  streamOpened(): void {
    this.opened++;
  }

  /** The client reset a stream before its answer was done. */
  streamResetEarly(): void {
    this.premature++;
    if (this.opened >= PREMATURE_RESET_MIN_STREAMS && 2 * this.premature >= this.opened) this.calm();
  }

  /** GOAWAY ENHANCE_YOUR_CALM, and the connection closed at once. */
  calm(): void {
    if (this.session.destroyed) return;
    this.session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    this.session.destroy();
  }
}

function isFlooding(error: Error | undefined): boolean {
  return FLOODING_ERRNOS.has((error as { errno?: number } | undefined)?.errno ?? 0);
}
