// Usage: node bench/demo/wipe-views.mjs URL USER PASSWORD PREFIX REDIS_PORT (a running `npm run demo` on its own Redis: this FLUSHALLs it)
/* global console, setTimeout, process */
// Wipes the running demo's Redis view (its key prefix), then times until the console shows what it showed before.
import { consoleClient } from './console-client.mjs';
import { execSync } from 'node:child_process';
const [url, user, password, prefix, port] = process.argv.slice(2);
let call = consoleClient(url);
const login = async () => { call = consoleClient(url); return (await call('POST', '/api/login', { username: user, password })).status; };
const snap = async () => {
  const loginStatus = await login();
  const p = await call('GET', '/api/policy');
  const c = await call('GET', '/api/cases?limit=1000');
  const a = await call('GET', '/api/audit?limit=5');
  const top = (a.body?.entries ?? a.body?.items ?? a.body)?.[0];
  return { status: [loginStatus, p.status, c.status, a.status], policy: p.body?.current?.version, cases: c.body?.openCount, audit: top ? `${top.seq} ${top.action} ${top.hash ?? top.mac ?? ''}`.slice(0, 100) : JSON.stringify(a.body).slice(0, 100), users: String(loginStatus) };
};
const before = await snap();
console.log('before', JSON.stringify(before));
const keys = execSync(`redis-cli -p ${port} --scan --pattern '${prefix}*' | wc -l`).toString().trim();
execSync(`redis-cli -p ${port} flushall`);
const t0 = Date.now();
console.log(`deleted ${keys} keys under ${prefix}`);
let restoringSeen = 0;
for (;;) {
  await new Promise((r) => setTimeout(r, 500));
  const st = await call('GET', '/api/status');
  if (st.body?.restoring) { restoringSeen++; continue; }
  const now = await snap();
  const a = await call('GET', '/api/audit?limit=50');
  const entries = a.body?.entries ?? a.body?.items ?? a.body ?? [];
  const [bseq, , bhash] = before.audit.split(' ');
  const kept = Array.isArray(entries) && entries.some((e) => String(e.seq) === bseq && String(e.hash ?? e.mac ?? '') === bhash);
  now.auditKept = kept;
  const same = now.policy === before.policy && kept && now.users === before.users && now.cases === before.cases;
  console.log(((Date.now() - t0) / 1000).toFixed(1), 's', `restoring seen ${restoringSeen}x`, JSON.stringify(now), same ? 'SAME' : 'DIFFERENT');
  if (same || Date.now() - t0 > 60_000) break;
  await new Promise((r) => setTimeout(r, 5000));
}
