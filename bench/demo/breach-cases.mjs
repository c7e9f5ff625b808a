// Usage: node bench/demo/breach-cases.mjs URL USER PASSWORD BREACHES.json KAFKA_BROKER
// After breach-watch.mjs: the open cases at the breached merchants, whether one case links the others, one bulk
// verdict (confirm fraud) over them, then their labels read back from the labels topic with kcat.
/* global console, process, setTimeout */
import { consoleClient } from './console-client.mjs';
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
const [url, user, password, file, broker] = process.argv.slice(2);
const call = consoleClient(url);
await call('POST', '/api/login', { username: user, password });
const { csrf } = (await call('GET', '/api/session')).body;
const samples = JSON.parse(readFileSync(file, 'utf8'));
const merchants = new Set(samples.at(-1).sim.map((b) => b.merchantId));
const open = (await call('GET', '/api/cases?limit=1000')).body.open;
for (const m of merchants) {
  const cases = open.filter((c) => c.tx.merchantId === m);
  if (cases.length === 0) {
    console.log(`${m}: no open case`);
    continue;
  }
  const linked = (await call('GET', `/api/cases/${encodeURIComponent(cases[0].caseId)}/linked`)).body.linked ?? [];
  const linkedIds = new Set(linked.flatMap((l) => (l.cases ?? [l]).map((c) => c.caseId ?? c)));
  const reached = cases.slice(1).filter((c) => linkedIds.has(c.caseId)).length;
  const ids = cases.map((c) => c.caseId);
  const r = await call('POST', '/api/cases/bulk-verdict', { caseIds: ids, verdict: 'confirm_fraud', note: 'breach: one bulk verdict' }, csrf);
  await new Promise((res) => setTimeout(res, 3000));
  const txIds = new Set(cases.map((c) => c.txId));
  const labels = execSync(`kcat -b ${broker} -C -t labels -e -q -f '%s\\n'`, { maxBuffer: 1 << 28 }).toString().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const got = labels.filter((l) => txIds.has(l.txId) && l.source === 'analyst' && l.isFraud);
  console.log(`${m}: ${cases.length} open cases; the first links ${reached} of the other ${cases.length - 1}; bulk verdict ${r.status} decided ${r.body.decided}; analyst fraud labels on the topic for ${new Set(got.map((l) => l.txId)).size} of ${txIds.size}`);
}
