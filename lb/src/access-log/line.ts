import type { Attempt, PassedOver, RequestRecord } from '../proxy/observation.js';

/**
 * One access-log line: JSON, every field in a fixed order (null when it does not apply), the
 * time as ISO 8601 (when the head arrived), the duration in ms to the microsecond. Written out
 * field by field (no object built and stringified per request: this runs once per request).
 */
export function accessLine(record: RequestRecord): string {
  return (
    `{"time":"${isoTime(record.time)}","event":"${record.event}","client":${text(record.client)}` +
    `,"method":${text(record.method)},"path":${text(record.path)},"status":${record.status}` +
    `,"bytesIn":${record.bytesIn},"bytesOut":${record.bytesOut}` +
    `,"durationMs":${milliseconds(record.durationMs)}` +
    `,"requestId":${text(record.requestId)},"keySource":${text(record.keySource)}` +
    `,"routingId":${text(record.routingId)},"replica":${text(record.replica)}` +
    `,"attempts":${attempts(record.attempts)},"passedOver":${passedOver(record.passedOver)}` +
    `,"traceId":${text(record.traceId)},"error":${text(record.error)},"closedBy":${text(record.closedBy)}` +
    `,"protocol":"${record.protocol}","tls":${record.tls}}\n`
  );
}

/** ms to the microsecond, as JSON.stringify would print the rounded number, from integers (faster than a double's digits). */
function milliseconds(ms: number): string {
  const us = Math.round(ms * 1000);
  const fraction = us % 1000;
  if (fraction === 0) return String(us / 1000);
  const digits = String(fraction).padStart(3, '0').replace(/0+$/, '');
  return `${(us - fraction) / 1000}.${digits}`;
}

/** A JSON string (escaped as JSON.stringify does), or null. */
function text(value: string | null): string {
  return value === null ? 'null' : JSON.stringify(value);
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
