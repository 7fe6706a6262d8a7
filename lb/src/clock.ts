/**
 * The clock of every timeout and time window inside one process (deadlines, ejections, suspects),
 * in milliseconds: the monotonic clock, which a step of the wall clock (NTP, a resumed VM, an
 * operator's `date -s`) does not move, as HAProxy's and nginx's timers are not moved. Its zero is
 * this process's start: compare its values with each other only. Times that leave the process
 * (logs, the Date header, slow start's join time shared by instances) stay on the wall clock.
 *
 * While one socket read is being handled (from a parser callback to the end of that read), the
 * clock is read once and every time asked for is that one: a request sets four deadlines and
 * takes two timestamps, all within microseconds of each other, as nginx and HAProxy read the time
 * once per event. Outside a read every call reads the clock.
 */
export function monotonicMs(): number {
  if (!inRead) return performance.now();
  if (readTime < 0) readTime = performance.now();
  return readTime;
}

/** A socket read is being handled: a parser callback of it runs. */
let inRead = false;
/** Its time, once asked for (-1 before). */
let readTime = -1;

/** A parser callback runs: until `readEnds`, `monotonicMs` is one reading of the clock. */
export function readBegins(): void {
  inRead = true;
}

/**
 * The read is handled (its parser said so, stopped, or closed). The deadline sweep calls it
 * too, so a read whose end was never seen (a callback threw) holds the time one sweep at most.
 */
export function readEnds(): void {
  inRead = false;
  readTime = -1;
}
