/**
 * One client request as the data plane knows it, from admission to the upstream write: what
 * the parser read and what admission decided. Its body arrives separately, as it comes.
 */
export interface AdmittedRequest {
  readonly method: string;
  /** Origin-form: path and query. */
  readonly path: string;
  /** [name, value, ...] as the client sent them. */
  readonly headers: readonly string[];
  /** Host from an absolute-form target: replaces the client's Host. */
  readonly host: string | undefined;
  readonly versionMinor: number;
  /** The client asked to keep the connection open (HTTP/1.1 default, or HTTP/1.0 keep-alive). */
  readonly keepAlive: boolean;
  readonly hasBody: boolean;
  readonly chunked: boolean;
  /** `Expect: 100-continue`: the LB answers 100 itself before reading the body. */
  readonly expectsContinue: boolean;
  /** The first X-Request-Id, as sent. */
  readonly requestId: string | undefined;
  /** A bodiless GET with `Connection: upgrade` and `Upgrade`: it asks for a tunnel (WebSocket). */
  readonly upgrade: boolean;
}
