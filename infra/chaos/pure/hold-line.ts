/**
 * The stage runner's "fault: holding transaction before commit" log line (core/faults.ts), read from a child's
 * stderr: which input partition and offsets the held (sent, uncommitted) transaction covers.
 */
export const HOLD_MESSAGE = 'fault: holding transaction before commit';

export interface HeldBatch {
  partition: number;
  /** First and last input offsets of the held batch, when the line says. */
  first?: bigint;
  last?: bigint;
  topic?: string;
}

const asBig = (v: unknown): bigint | undefined => {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  return undefined;
};

function range(v: unknown): [bigint | undefined, bigint | undefined] {
  if (Array.isArray(v)) {
    const all = v.map(asBig).filter((x): x is bigint => x !== undefined);
    if (all.length === 0) return [undefined, undefined];
    return [all.reduce((a, b) => (b < a ? b : a)), all.reduce((a, b) => (b > a ? b : a))];
  }
  if (typeof v === 'string') {
    const m = /^(\d+)\s*(?:-|\.\.|–)\s*(\d+)$/.exec(v.trim());
    if (m) return [BigInt(m[1]!), BigInt(m[2]!)];
    const one = asBig(v);
    return [one, one];
  }
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return [asBig(o.first ?? o.from ?? o.start ?? o.min), asBig(o.last ?? o.to ?? o.end ?? o.max)];
  }
  const one = asBig(v);
  return [one, one];
}

/**
 * Parses one pino JSON line; undefined unless it is the hold line with a partition. Tolerant of how the offsets
 * are spelled (offsets: [..] | "a-b" | {first,last}; firstOffset/lastOffset; fromOffset/toOffset; offset).
 */
export function parseHoldLine(line: string): HeldBatch | undefined {
  if (!line.includes(HOLD_MESSAGE)) return undefined;
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(line);
    if (!v || typeof v !== 'object') return undefined;
    o = v as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof o.msg !== 'string' || !o.msg.includes(HOLD_MESSAGE)) return undefined;
  const partition = typeof o.partition === 'number' ? o.partition : Number(o.partition);
  if (!Number.isInteger(partition) || partition < 0) return undefined;
  let [first, last] = range(o.offsets);
  first ??= asBig(o.firstOffset ?? o.fromOffset ?? o.offset);
  last ??= asBig(o.lastOffset ?? o.toOffset ?? o.offset);
  if (first === undefined && last !== undefined) first = last;
  if (last === undefined && first !== undefined) last = first;
  return { partition, ...(first !== undefined ? { first, last } : {}), ...(typeof o.topic === 'string' ? { topic: o.topic } : {}) };
}

/**
 * Was this output record part of a transaction still open when the member was killed? kafkajs' admin lists offsets
 * read_committed, so the "high" offset read right after the kill is the partition's last stable offset (LSO): an
 * open transaction holds it back at its first record, so every record at or above it was uncommitted then. The
 * record's timestamp (CreateTime, stamped by the member as it sent; same host clock) puts it before the kill, which
 * tells it from what a peer or the replacement writes afterwards.
 */
export function openAtKill(record: { offset: bigint; timestamp: number }, lsoAtKill: bigint | undefined, killedAt: number): boolean {
  return lsoAtKill !== undefined && record.offset >= lsoAtKill && record.timestamp <= killedAt;
}
