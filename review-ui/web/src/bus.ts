import type { Case } from '../../../core/contracts.ts';
import type { LiveDecision, Stats } from './api.ts';

export interface LabelEvent {
  txId: string;
  isFraud: boolean;
  scenario: string | null;
  source: string;
}

interface Events {
  decision: LiveDecision;
  case: Case;
  label: LabelEvent;
  stats: Stats;
  conn: boolean;
}

type Listener<K extends keyof Events> = (e: Events[K]) => void;
const listeners = new Map<keyof Events, Set<(e: never) => void>>();

/** Subscribes; returns the unsubscribe, which a page calls when it is left. */
export function on<K extends keyof Events>(kind: K, fn: Listener<K>): () => void {
  let set = listeners.get(kind);
  if (!set) listeners.set(kind, (set = new Set()));
  const s = set;
  s.add(fn as (e: never) => void);
  return () => s.delete(fn as (e: never) => void);
}

function emit<K extends keyof Events>(kind: K, e: Events[K]): void {
  for (const fn of listeners.get(kind) ?? []) (fn as Listener<K>)(e);
}

/** Known scenario per tx id, from labels as they arrive. */
export const scenarios = new Map<string, string | null>();

export function connect(): EventSource {
  const es = new EventSource('/api/stream');
  es.onopen = () => emit('conn', true);
  es.onerror = () => emit('conn', false);
  const parse = <T>(ev: Event): T => JSON.parse((ev as MessageEvent<string>).data) as T;
  es.addEventListener('decision', (ev) => emit('decision', parse<LiveDecision>(ev)));
  es.addEventListener('case', (ev) => emit('case', parse<Case>(ev)));
  es.addEventListener('stats', (ev) => emit('stats', parse<Stats>(ev)));
  es.addEventListener('label', (ev) => {
    const l = parse<LabelEvent>(ev);
    scenarios.set(l.txId, l.scenario ?? (l.isFraud ? 'fraud (unknown scenario)' : 'legitimate'));
    emit('label', l);
  });
  return es;
}
