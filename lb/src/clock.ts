/**
 * The clock of every timeout and time window inside one process (deadlines, ejections, suspects),
 * in milliseconds: the monotonic clock, which a step of the wall clock (NTP, a resumed VM, an
 * operator's `date -s`) does not move, as HAProxy's and nginx's timers are not moved. Its zero is
 * this process's start: compare its values with each other only. Times that leave the process
 * (logs, the Date header, slow start's join time shared by instances) stay on the wall clock.
 */
export function monotonicMs(): number {
  return performance.now();
}
