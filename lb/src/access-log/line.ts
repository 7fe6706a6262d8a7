import type { RequestRecord } from '../proxy/observation.js';

/**
 * One access-log line: JSON, every field in a fixed order (null when it does not apply), the
 * time as ISO 8601 (when the head arrived), the duration in ms to the microsecond.
 */
export function accessLine(record: RequestRecord): string {
  return `${JSON.stringify({
    time: new Date(record.time).toISOString(),
    event: record.event,
    client: record.client,
    method: record.method,
    path: record.path,
    status: record.status,
    bytesIn: record.bytesIn,
    bytesOut: record.bytesOut,
    durationMs: Math.round(record.durationMs * 1000) / 1000,
    requestId: record.requestId,
    keySource: record.keySource,
    routingId: record.routingId,
    replica: record.replica,
    attempts: record.attempts,
    passedOver: record.passedOver,
    traceId: record.traceId,
    error: record.error,
    closedBy: record.closedBy,
  })}\n`;
}
