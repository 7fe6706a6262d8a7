/** Headers as parsers give them and the data plane keeps them: [name, value, ...], as received. */

/** The first header called `name` (lower case) in [name, value, ...] (this runs per request). */
export function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let k = 0; k < headers.length; k += 2) {
    if (isName(headers[k]!, name)) return headers[k + 1];
  }
  return undefined;
}

/**
 * `text` is `lower` (lower-case letters, digits and '-') in any case, compared without a lower-case
 * copy: lengths first, then OR-ing 0x20, which folds only A-Z onto a-z among the characters a field
 * name (or a token such as `keep-alive`) may hold; '-' and digits are unchanged.
 */
export function isName(text: string, lower: string): boolean {
  if (text.length !== lower.length) return false;
  for (let at = 0; at < lower.length; at++) {
    if ((text.charCodeAt(at) | 0x20) !== lower.charCodeAt(at)) return false;
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
