import { monotonicMs, readEnds } from '../clock.js';

/** Something with a deadline: expire() runs once the deadline (on `monotonicMs`) has passed. */
export interface Timed {
  deadline: number;
  expire(now: number): void;
}

/**
 * Every timeout of the data plane (request, keep-alive idle, connect, upstream headers and
 * body) on one clock: a sweep every `resolutionMs`, instead of a timer armed and cleared
 * per request. A deadline is met within `resolutionMs`. Items with deadline 0 are idle.
 */
export class Deadlines {
  private readonly items = new Set<Timed>();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly resolutionMs: number) {
    this.timer = setInterval(() => {
      readEnds(); // a timer runs outside any read
      this.sweep(monotonicMs());
    }, resolutionMs);
    this.timer.unref();
  }

  watch(item: Timed): void {
    this.items.add(item);
  }

  unwatch(item: Timed): void {
    this.items.delete(item);
  }

  sweep(now: number): void {
    for (const item of this.items) {
      if (item.deadline !== 0 && item.deadline <= now) item.expire(now);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.items.clear();
  }
}
