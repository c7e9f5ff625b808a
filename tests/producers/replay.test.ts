import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LabelSchema, TransactionSchema, type Label, type Transaction } from '../../core/contracts.ts';
import { UserInputError } from '../../core/errors.ts';
import { memorySink } from '../../producers/kafka-sink.ts';
import { checkReplayInput, replayFile } from '../../producers/replay.ts';
import { generateToFile } from '../../producers/generate.ts';

let dir: string;
let file: string;
const N = 3000;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fs-replay-'));
  file = join(dir, 'tx.jsonl');
  await generateToFile({ world: { seed: 31, events: N, cards: 200, merchants: 100, fraudRate: 0.05 }, out: file, format: 'jsonl', progress: false });
});

const parseAll = <T>(msgs: Array<{ value: Buffer }>, schema: { parse(x: unknown): T }) => msgs.map((m) => schema.parse(JSON.parse(m.value.toString())));

describe('replayFile (memory sink)', () => {
  it('sends every row once, keyed by card, and every label after it falls due', async () => {
    const sink = memorySink();
    const s = await replayFile({ file, pace: { kind: 'max' }, progress: false, batchSize: 500 }, sink);
    expect(s).toMatchObject({ rows: N, sent: N, rejected: 0, labelsSent: N, labelsPending: 0, passes: 1, stopped: false });
    const txs = parseAll<Transaction>(sink.txs, TransactionSchema);
    expect(new Set(txs.map((t) => t.txId)).size).toBe(N);
    sink.txs.forEach((m, i) => expect(m.key.toString()).toBe(txs[i]!.cardId));
    const labels = parseAll<Label>(sink.labels, LabelSchema);
    expect(new Set(labels.map((l) => l.txId))).toEqual(new Set(txs.map((t) => t.txId)));
    expect(labels.filter((l) => l.isFraud).length).toBeGreaterThan(50);
  });

  it('never sends a label before the replayed stream reaches its labeledAt', async () => {
    const order: Array<{ kind: 'tx' | 'label'; ts: number }> = [];
    const sink = memorySink();
    const send = sink.send.bind(sink);
    sink.send = async (txs, labels) => {
      for (const t of txs) order.push({ kind: 'tx', ts: (JSON.parse(t.value.toString()) as Transaction).ts });
      for (const l of labels) order.push({ kind: 'label', ts: (JSON.parse(l.value.toString()) as Label).labeledAt });
      await send(txs, labels);
    };
    await replayFile({ file, pace: { kind: 'max' }, progress: false, batchSize: 100 }, sink);
    let maxTxTs = -Infinity;
    let early = 0;
    let beforeEnd = 0;
    const lastTx = order.map((o) => o.kind).lastIndexOf('tx');
    order.forEach((o, i) => {
      if (o.kind === 'tx') maxTxTs = Math.max(maxTxTs, o.ts);
      else if (i < lastTx) {
        beforeEnd++;
        if (o.ts > maxTxTs) early++;
      }
    });
    expect(beforeEnd).toBeGreaterThan(0);
    expect(early).toBe(0);
  });

  it('counts bad rows, writes them to the rejects file and sends the rest', async () => {
    const lines = (await readFile(file, 'utf8')).trim().split('\n').slice(0, 50);
    lines[3] = '{"broken json';
    lines[10] = JSON.stringify({ ...JSON.parse(lines[10]!), isFraud: true });
    lines[20] = JSON.stringify({ ...JSON.parse(lines[20]!), amountMinor: -5 });
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, lines.join('\n') + '\n');
    const sink = memorySink();
    const s = await replayFile({ file: bad, pace: { kind: 'max' }, progress: false }, sink);
    expect(s.rows).toBe(47);
    expect(s.sent).toBe(47);
    expect(s.rejected).toBe(3);
    expect(s.rejectsFile).toBe(join(dir, 'bad.rejects.jsonl'));
    const rejects = (await readFile(s.rejectsFile!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string });
    expect(rejects.map((r) => r.line)).toEqual([4, 11, 21]);
    expect(rejects[1]!.reason).toMatch(/isFraud/);
    expect(rejects[2]!.reason).toMatch(/amountMinor/);
  });

  it('loops with fresh ids and shifted times, labels included', async () => {
    const sink = memorySink();
    const s = await replayFile({ file, pace: { kind: 'max' }, loops: 2, progress: false }, sink);
    expect(s.sent).toBe(2 * N);
    expect(s.passes).toBe(2);
    const txs = parseAll<Transaction>(sink.txs, TransactionSchema);
    expect(new Set(txs.map((t) => t.txId)).size).toBe(2 * N);
    expect(txs[N]!.txId).toBe(`${txs[0]!.txId}~1`);
    expect(txs[N]!.ts).toBeGreaterThan(txs[N - 1]!.ts);
    const labels = parseAll<Label>(sink.labels, LabelSchema);
    expect(labels.filter((l) => l.txId.endsWith('~1'))).toHaveLength(N);
  });

  it('stops on abort, reporting labels that had not fallen due', async () => {
    const abort = new AbortController();
    const sink = memorySink();
    const send = sink.send.bind(sink);
    sink.send = async (txs, labels) => {
      await send(txs, labels);
      if (sink.txs.length >= 1000) abort.abort();
    };
    const s = await replayFile({ file, pace: { kind: 'max' }, progress: false, batchSize: 250, signal: abort.signal }, sink);
    expect(s.stopped).toBe(true);
    expect(s.sent).toBeLessThan(N);
    expect(s.labelsPending).toBeGreaterThan(0);
    expect(s.labelsSent + s.labelsPending).toBe(N);
  });

  it('replays a user CSV through a column mapping', async () => {
    const csv = join(dir, 'user.csv');
    await writeFile(csv, 'Time,Amount,Class,Card\n0,12.5,0,a\n1,oops,0,b\n2,3.20,1,c\n');
    const sink = memorySink();
    const s = await replayFile({ file: csv, pace: { kind: 'max' }, progress: false, csv: { map: 'time=Time,amount=Amount,label=Class,cardId=Card', timeUnit: 's', timeBase: 1_700_000_000_000 } }, sink);
    expect(s).toMatchObject({ rows: 2, sent: 2, rejected: 1, labelsSent: 2 });
    expect(s.rejectReasons[0]!.reason).toMatch(/^column "Amount" \(amount\)/);
    const txs = parseAll<Transaction>(sink.txs, TransactionSchema);
    expect(txs.map((t) => [t.txId, t.amountMinor, t.ts])).toEqual([
      ['user-2', 1250, 1_700_000_000_000],
      ['user-4', 320, 1_700_000_002_000],
    ]);
  });

  it('checks files and mappings before connecting anywhere', async () => {
    await expect(checkReplayInput({ file: join(dir, 'missing.jsonl') })).rejects.toThrow(/--file .*missing\.jsonl: no such file/);
    const csv = join(dir, 'user2.csv');
    await writeFile(csv, 'When,Amount\n1,2\n');
    await expect(checkReplayInput({ file: csv, csv: { map: 'time=Time' } })).rejects.toThrow(UserInputError);
    await expect(checkReplayInput({ file: csv, csv: { map: 'time=Time' } })).rejects.toThrow(/column "Time"/);
  });
});
