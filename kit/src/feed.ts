/** One Server-Sent Event of GET /membership/changes. */
export interface FeedEvent {
  readonly id: string;
  /** `reset` (the whole table) or `message` (a change). */
  readonly event: string;
  // biome-ignore lint/suspicious/noExplicitAny: callers read the fields they expect
  readonly data: any;
}

/** A subscriber of GET /membership/changes: the events as they come. */
export async function subscribeChanges(url: string, lastEventId?: string) {
  const controller = new AbortController();
  const res = await fetch(`${url}/membership/changes`, {
    headers: lastEventId ? { 'last-event-id': lastEventId } : {},
    signal: controller.signal,
  });
  const type = res.headers.get('content-type');
  if (type !== 'text/event-stream') throw new Error(`GET /membership/changes answered ${res.status} ${type}`);
  const events: FeedEvent[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let end = buffered.indexOf('\n\n');
      while (end !== -1) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const field = (name: string) => block.match(new RegExp(`^${name}: ?(.*)$`, 'm'))?.[1];
        const data = field('data');
        if (data !== undefined)
          events.push({ id: field('id') ?? '', event: field('event') ?? 'message', data: JSON.parse(data) });
        end = buffered.indexOf('\n\n');
      }
    }
  })();
  return { events, close: () => controller.abort() };
}
