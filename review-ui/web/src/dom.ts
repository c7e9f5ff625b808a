/**
 * The only way this front end builds DOM: elements by tag and text nodes. No innerHTML anywhere, so a
 * merchant name like `<img src=x onerror=...>` is always shown as the characters it is.
 */
export type Child = Node | string | number | null | undefined | false;
type Handler = (ev: Event) => void;
export interface Attrs {
  class?: string;
  on?: Partial<Record<keyof HTMLElementEventMap, Handler>>;
  [name: string]: string | number | boolean | undefined | Attrs['on'];
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'on' && value && typeof value === 'object') {
      for (const [ev, fn] of Object.entries(value)) if (fn) el.addEventListener(ev, fn as Handler);
    } else if (value === true) el.setAttribute(name, '');
    else if (value !== false && value !== undefined && typeof value !== 'object') {
      if (name === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value);
      else el.setAttribute(name, String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Element): void {
  el.replaceChildren();
}

export function money(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

export function time(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { hour12: false });
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

export const num = (x: number | null | undefined, digits = 3): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));

/** A horizontal bar whose width is set through the CSSOM (allowed by the style-src 'self' policy). */
export function bar(fraction: number, cls = ''): HTMLElement {
  const fill = h('span', { class: `bar-fill ${cls}` });
  fill.style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
  return h('span', { class: 'bar' }, fill);
}

export function badge(action: string): HTMLElement {
  return h('span', { class: `badge ${action.toLowerCase()}` }, action);
}

export function kv(rows: Array<[string, Child]>): HTMLElement {
  return h('dl', { class: 'kv' }, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'panel' }, h('h2', {}, title), ...children);
}

export function table(headers: string[], rows: Child[][], cls = ''): HTMLTableElement {
  return h(
    'table',
    { class: cls },
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  );
}

/** A JSON value shown as text (never parsed as markup). */
export function pre(value: unknown): HTMLElement {
  return h('pre', { class: 'json' }, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}
