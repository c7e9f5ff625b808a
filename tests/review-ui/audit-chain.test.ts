/** The audit chain's checks, pure (issue 18 item 5): HMAC with the configured key, links, truncation at the old end. */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditHmacKey, DEV_KEY_FILE } from '../../core/audit-key.ts';
import { entryHash, verifyChain, type AuditEntry } from '../../state/audit.ts';

const key = Buffer.from('k'.repeat(40));

function chain(n: number, k = key, firstSeq = 1, prev = ''): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 0; i < n; i++) {
    const unsigned = { id: `e${firstSeq + i}`, at: 1_000 + i, who: 'alice', action: 'case.approve', target: `case:c${i}`, seq: firstSeq + i, prev };
    const e = { ...unsigned, hash: entryHash(unsigned, k) };
    out.push(e);
    prev = e.hash;
  }
  return out;
}

describe('audit chain', () => {
  it('an intact record from seq 1 verifies', () => {
    expect(verifyChain(chain(5), key, { complete: true })).toMatchObject({ ok: true, checked: 5, firstSeq: 1, lastSeq: 5, truncated: false, problems: [] });
  });

  it('is keyed: the same entries under another key, or re-hashed with plain sha256, do not verify', () => {
    const v = verifyChain(chain(3), Buffer.from('another key of some length......'), { complete: true });
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/MAC does not match/);
    // An editor without the key cannot re-sign: recomputing the MAC with a guessed key fails the check.
    const forged = chain(3).map((e, i) => (i === 1 ? { ...e, who: 'mallory', hash: entryHash({ ...e, who: 'mallory' }, Buffer.from('guess')) } : e));
    expect(verifyChain(forged, key, { complete: true }).problems.join('\n')).toMatch(/seq 2 .*MAC does not match/);
  });

  it('a record cut off at the old end is reported, not accepted: TRUNCATED names the missing seqs', () => {
    const all = chain(6);
    const v = verifyChain(all.slice(2), key, { complete: true });
    expect(v).toMatchObject({ ok: false, truncated: true, firstSeq: 3 });
    expect(v.problems).toEqual(['the record starts at seq 3: entries 1 to 2 are gone from the old end (retention ran out, or they were deleted)']);
    // The Redis view is capped on purpose: the same slice is fine for a view.
    expect(verifyChain(all.slice(2), key, { complete: false }).ok).toBe(true);
  });

  it('removed, reordered and unparseable entries are named', () => {
    const all = chain(5);
    expect(verifyChain([all[0]!, all[1]!, all[3]!, all[4]!], key, { complete: true }).problems.join('\n')).toMatch(/seq 4 .*does not follow seq 2/);
    expect(verifyChain([all[0]!, all[2]!, all[1]!], key, { complete: true }).ok).toBe(false);
    expect(verifyChain([all[0]!, undefined, all[1]!], key, { complete: true }).problems.join('\n')).toMatch(/entry 2 of 3: not a chained audit entry/);
  });

  it('the view head must match the newest entry', () => {
    const all = chain(3);
    expect(verifyChain(all, key, { complete: false, head: `3 ${all[2]!.hash} 17` }).ok).toBe(true);
    expect(verifyChain(all.slice(0, 2), key, { complete: false, head: `3 ${all[2]!.hash}` }).problems.join('\n')).toMatch(/head is/);
  });

  it('AUDIT_HMAC_KEY unset: a key is generated once under DATA_DIR (0600) and reused', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fs-audit-key-'));
    const a = auditHmacKey({ dataDir, ui: {} });
    const b = auditHmacKey({ dataDir, ui: {} });
    expect(a.key.equals(b.key)).toBe(true);
    expect(a.source).toBe(join(dataDir, DEV_KEY_FILE));
    expect(readFileSync(a.source, 'utf8').trim().length).toBeGreaterThanOrEqual(32);
    expect(statSync(a.source).mode & 0o777).toBe(0o600);
    expect(auditHmacKey({ dataDir, ui: { auditHmacKey: 'x'.repeat(32) } })).toMatchObject({ source: 'env' });
  });
});
