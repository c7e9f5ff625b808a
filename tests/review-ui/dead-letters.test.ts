import { describe, expect, it } from 'vitest';
import { DeadLetterLog, PREVIEW_CHARS, reasonKind } from '../../review-ui/server/dead-letters.ts';
import type { DeadLetter } from '../../core/contracts.ts';

const letter = (reason: string, raw: string, failedAt: number, offset = '1'): DeadLetter => ({
  sourceTopic: 'transactions', partition: 0, offset, key: 'card-1', rawBase64: Buffer.from(raw).toString('base64'), rawBytes: Buffer.byteLength(raw), reason, stage: 'detect', failedAt,
});

describe('dead-letter log', () => {
  it('groups reasons by their family', () => {
    expect(reasonKind('schema: amountMinor: expected number')).toBe('schema');
    expect(reasonKind('not JSON: Unexpected token')).toBe('not JSON');
    expect(reasonKind('conflicting duplicate')).toBe('conflicting duplicate');
    expect(reasonKind('')).toBe('unknown');
  });

  it('keeps the newest first, filters by reason, counts per minute, and cuts long payloads', () => {
    const log = new DeadLetterLog();
    const t0 = 1_700_000_000_000;
    log.add(letter('schema: amountMinor: expected number', '{"txId":"a"}', t0, '1'));
    log.add(letter('not JSON: Unexpected token', '<img src=x onerror=alert(1)>', t0 + 60_000, '2'));
    log.add(letter('schema: ts: too big', 'x'.repeat(PREVIEW_CHARS + 10), t0 + 61_000, '3'));
    const all = log.summary({ limit: 10 }, t0 + 120_000);
    expect(all.total).toBe(3);
    expect(all.letters.map((l) => l.offset)).toEqual(['3', '2', '1']);
    expect(all.byKind).toEqual([{ kind: 'schema', count: 2 }, { kind: 'not JSON', count: 1 }]);
    expect(all.letters[0]!.preview).toHaveLength(PREVIEW_CHARS);
    expect(all.letters[0]!.previewCut).toBe(true);
    expect(all.letters[1]!.preview).toBe('<img src=x onerror=alert(1)>'); // raw text: the page renders it with textContent
    const minute = Math.floor((t0 + 60_000) / 60_000) * 60_000;
    expect(all.perMinute.find((m) => m.minute === minute)?.counts).toEqual({ 'not JSON': 1, schema: 1 });
    expect(all.perMinute).toHaveLength(60);
    const schema = log.summary({ kind: 'schema', limit: 1 }, t0 + 120_000);
    expect(schema.letters.map((l) => l.offset)).toEqual(['3']);
  });
});
