// Waits until the LB at LB_URL lists N replicas on /rep (used by `make up`); exits 1 after a timeout.
// Each try has its own (ref'd) timeout: right after `compose up`, docker-proxy accepts
// connections before the LB listens and never answers them.
const url = process.env.LB_URL ?? 'http://127.0.0.1:5000';
// N unset (a configuration file says how many): one replica serving is ready.
const want = process.env.N === undefined ? 3 : Number(process.env.N) || 1;
const deadline = Date.now() + Number(process.env.WAIT_SECONDS ?? 90) * 1000;

async function rep() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('no answer within 2 s')), 2000);
  try {
    const res = await fetch(`${url}/rep`, { signal: controller.signal });
    return { ok: res.ok, body: await res.json() };
  } finally {
    clearTimeout(timer);
  }
}

let last = 'no answer';
while (Date.now() < deadline) {
  try {
    const { ok, body } = await rep();
    last = JSON.stringify(body);
    if (ok && body.message?.N >= want) {
      console.log(`load balancer ready at ${url}: ${body.message.replicas.join(', ')}`);
      process.exit(0);
    }
  } catch (error) {
    last = error.cause?.code ?? error.message;
  }
  await new Promise((r) => setTimeout(r, 250));
}
console.error(`load balancer at ${url} not ready: ${last}`);
process.exit(1);
