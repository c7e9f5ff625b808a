// Usage: node bench/demo/breach-watch.mjs URL USER PASSWORD [MINUTES=12] [RATE=800] (a running `npm run demo`; writes /tmp/demo/breaches.json)
/* global console, setTimeout, process */
// Drives a running demo: logs in, injects compromised-merchant breaches at a higher rate, records the Replay follow-up.
import { consoleClient } from './console-client.mjs';
import { writeFileSync } from 'node:fs';
const [url, user, password, minutes = '12', rate = '800'] = process.argv.slice(2);
const session = consoleClient(url);
const call = async (method, path, body, csrf) => {
  const r = await session(method, path, body, csrf);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
};
await call('POST', '/api/login', { username: user, password });
const { csrf } = await call('GET', '/api/session');
console.log(JSON.stringify(await call('POST', '/api/replay', { action: 'speed', rate: Number(rate) }, csrf)).slice(0, 200));
const inj = await call('POST', '/api/replay', { action: 'inject', scenario: 'compromised_merchant', count: 3 }, csrf);
console.log('breaches', JSON.stringify(inj.stats?.breaches));
const samples = [];
const end = Date.now() + Number(minutes) * 60_000;
while (Date.now() < end) {
  await new Promise((r) => setTimeout(r, 30_000));
  const s = await call('GET', '/api/replay');
  samples.push({ at: new Date().toISOString(), simulatedNow: s.stats?.simulatedNow, sim: s.stats?.breaches, followed: s.breaches });
  writeFileSync(process.env.OUT ?? 'breaches.json', JSON.stringify(samples, null, 1));
  const f = s.breaches ?? [];
  console.log(new Date().toISOString(), f.map((b) => `${b.merchantId}: ` + b.days.map((d) => `d${d.day} ${d.reviewed + d.blocked}/${d.decided} lr${d.byLabelRisk}`).join(' ')).join(' | '));
}
