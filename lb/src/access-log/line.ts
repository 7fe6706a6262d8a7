import type { Attempt, PassedOver, RequestRecord } from '../proxy/observation.js';

/**
 * One access-log line: JSON, every field in a fixed order (null when it does not apply), the
 * time as ISO 8601 (when the head arrived), the duration in ms to the microsecond. Written out
 * field by field (no object built and stringified per request: this runs once per request).
 */
export function accessLine(record: RequestRecord): string {
  return (
    `{"time":"${isoTime(record.time)}","event":"${record.event}","client":${quoted(record.client)}` +
    `,"method":${text(record.method)},"path":${text(record.path)},"status":${record.status}` +
    `,"bytesIn":${record.bytesIn},"bytesOut":${record.bytesOut}` +
    `,"durationMs":${milliseconds(record.durationMs)}` +
    `,"requestId":${quoted(record.requestId)},"keySource":${text(record.keySource)}` +
    `,"routingId":${quoted(record.routingId)},"replica":${text(record.replica)}` +
    `,"attempts":${attempts(record.attempts)},"passedOver":${passedOver(record.passedOver)}` +
    `,"traceId":${text(record.traceId)},"error":${text(record.error)},"closedBy":${text(record.closedBy)}` +
    `,"protocol":"${record.protocol}","tls":${record.tls}}\n`
  );
}

/** ms to the microsecond, as JSON.stringify would print the rounded number, from integers (faster than a double's digits). */
function milliseconds(ms: number): string {
  const us = Math.round(ms * 1000);
  const fraction = us % 1000;
  return fraction === 0 ? String(us / 1000) : `${(us - fraction) / 1000}${FRACTIONS[fraction]!}`;
}

/** `.001` to `.999` without trailing zeros (`.5`, `.25`), by thousandths: one lookup per line. */
const FRACTIONS = Array.from({ length: 1000 }, (_, k) => `.${String(k).padStart(3, '0').replace(/0+$/, '')}`);

/**
 * Lines as the file holds them (UTF-8), formatted together. Most lines are ASCII, whose UTF-8 is
 * their latin1: those are copied, not encoded (a third of a line's cost).
 */
export function accessLines(records: readonly RequestRecord[]): Buffer {
  allAscii = true;
  let chunk = '';
  for (const record of records) chunk += accessLine(record);
  return Buffer.from(chunk, allAscii ? 'latin1' : 'utf8');
}

/** Every text value formatted since `accessLines` began was ASCII (the rest of a line always is). */
let allAscii = true;

/**
 * A value that never needs escaping, quoted without a look: a socket's address, and the request's
 * id and routing id (decimal digits, as the data plane makes them).
 */
function quoted(value: string | null): string {
  return value === null ? 'null' : `"${value}"`;
}

/** A JSON string (escaped as JSON.stringify does), or null. */
function text(value: string | null): string {
  if (value === null) return 'null';
  return scan(value) === Scan.Escape ? JSON.stringify(value) : `"${value}"`;
}

enum Scan {
  Ascii,
  /** Past ASCII, with nothing to escape. */
  Wide,
  /** A character JSON.stringify writes escaped. */
  Escape,
}

/**
 * Whether JSON.stringify would escape a character of `value`: a control character, `"`, `\\`, or a
 * surrogate (it escapes lone ones; a pair goes through JSON.stringify too). Most values (ids,
 * names, paths) have none, and are ASCII.
 */
function scan(value: string): Scan {
  let found = Scan.Ascii;
  for (let at = 0; at < value.length; at++) {
    const code = value.charCodeAt(at);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) {
      found = Scan.Escape;
      break;
    }
    if (code > 0x7f) found = Scan.Wide;
  }
  // An escaped value may hold characters past ASCII too (JSON.stringify leaves them as they are).
  if (found !== Scan.Ascii) allAscii = false;
  return found;
}

function attempts(list: readonly Attempt[]): string {
  let out = '[';
  for (let k = 0; k < list.length; k++) {
    const { replica, failure } = list[k]!;
    out += `${k > 0 ? ',' : ''}{"replica":${text(replica)},"failure":${text(failure)}}`;
  }
  return `${out}]`;
}

function passedOver(list: readonly PassedOver[]): string {
  let out = '[';
  for (let k = 0; k < list.length; k++) {
    const { replica, reason } = list[k]!;
    out += `${k > 0 ? ',' : ''}{"replica":${text(replica)},"reason":"${reason}"}`;
  }
  return `${out}]`;
}

/** Requests in the same millisecond share one formatted time. */
let lastTime = Number.NaN;
let lastIso = '';

function isoTime(ms: number): string {
  if (ms !== lastTime) {
    lastTime = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}
