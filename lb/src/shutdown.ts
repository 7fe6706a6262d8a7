/**
 * After SIGTERM the LB exits within DRAIN_TIMEOUT_MS plus this, whatever is still open and
 * whatever the log destination does: the drain is cut at DRAIN_TIMEOUT_MS, and this is left for
 * stopping replicas, flushing logs and exiting. Past it, the shutdown watchdog ends the process.
 */
export const SHUTDOWN_MARGIN_MS = 5000;

/**
 * Ends the process `boundMs` after the shutdown began if it has not ended by then (a hung
 * replica stop, a stuck flush): one line, exit 1. Process replicas are killed by their driver's
 * exit handler.
 */
export function shutdownWatchdog(boundMs: number): void {
  setTimeout(() => {
    console.error(
      `lb: shutdown did not finish within ${boundMs} ms (DRAIN_TIMEOUT_MS + ${SHUTDOWN_MARGIN_MS}); exiting`,
    );
    process.exit(1);
  }, boundMs);
}
