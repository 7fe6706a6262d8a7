/** Headers as parsers give them and the data plane keeps them: [name, value, ...], as received. */

/** The first header called `name` (lower case) in [name, value, ...]; names compared by length first (per request). */
export function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let k = 0; k < headers.length; k += 2) {
    const field = headers[k]!;
    if (field.length === name.length && field.toLowerCase() === name) return headers[k + 1];
  }
  return undefined;
}

/** A gRPC call (`content-type: application/grpc`, `+proto`, ...): its errors are trailers, not JSON. */
export function isGrpc(headers: readonly string[]): boolean {
  return headerValue(headers, 'content-type')?.startsWith('application/grpc') === true;
}
