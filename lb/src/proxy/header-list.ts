/** Headers as parsers give them and the data plane keeps them: [name, value, ...], as received. */

/** The first header called `name` (lower case) in [name, value, ...] (this runs per request). */
export function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let k = 0; k < headers.length; k += 2) {
    if (isName(headers[k]!, name)) return headers[k + 1];
  }
  return undefined;
}

/**
 * `text` is `lower` (a lower-case name or token) in any case, compared without a lower-case copy:
 * lengths first, then each character equal, or an upper-case letter whose lower case `lower` has
 * (OR-ing 0x20 alone would also fold `_` and `^`, which a configured header name may hold).
 */
export function isName(text: string, lower: string): boolean {
  if (text.length !== lower.length) return false;
  for (let at = 0; at < lower.length; at++) {
    const c = text.charCodeAt(at);
    const l = lower.charCodeAt(at);
    if (c !== l && (c < 0x41 || c > 0x5a || (c | 0x20) !== l)) return false;
  }
  return true;
}

/** A gRPC call (`content-type: application/grpc`, `+proto`, ...): its errors are trailers, not JSON. */
export function isGrpc(headers: readonly string[]): boolean {
  return headerValue(headers, 'content-type')?.startsWith('application/grpc') === true;
}

/**
 * A field of decimal digits as a number (Content-Length, which llhttp has checked): what `Number`
 * gives such a field (0 for none, NaN for anything but digits) without its call into the runtime.
 */
export function decimalOf(digits: string): number {
  let value = 0;
  for (let at = 0; at < digits.length; at++) {
    const digit = digits.charCodeAt(at) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return value;
}
