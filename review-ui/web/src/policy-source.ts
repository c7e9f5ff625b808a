/**
 * What the Policy page previews on: the last N live scored transactions, or a labelled replay file the operator
 * put in PREVIEW_FILES_DIR. File names come from the server's listing and are shown as text only.
 */
import type { FilePreviewResult, FileSourceInfo, PreviewFileInfo } from '../../server/file-preview-source.ts';
import { api } from './api.ts';
import { dateTime, h } from './dom.ts';

export type { FilePreviewResult, FileSourceInfo };

interface Listing {
  dir: string | null;
  maxRows: number;
  files: PreviewFileInfo[];
}

export type PreviewRequest = { samples: number } | { source: { file: string; unlabelled: 'legit' | 'unknown' } };

export interface SourcePicker {
  el: HTMLElement;
  /** The body fields that pick the source. */
  request(): PreviewRequest;
  /** What is being scored, for the "scoring…" line. */
  describe(): string;
  refresh(): Promise<void>;
}

const LIVE = '';

function sizeText(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

export function sourcePicker(): SourcePicker {
  const select = h('select', { id: 'preview-source' });
  const samplesInput = h('input', { type: 'number', id: 'preview-n', min: 1, max: 5000, value: 1000 });
  const unlabelled = h('select', { id: 'preview-unlabelled' }, h('option', { value: 'legit' }, 'as legitimate (their chargeback window has passed)'), h('option', { value: 'unknown' }, 'as unknown (expected loss from p(fraud))'));
  const liveRow = h('label', { class: 'field' }, h('span', {}, 'last'), samplesInput, h('small', { class: 'muted' }, 'scored transactions'));
  const fileRow = h('label', { class: 'field' }, h('span', {}, 'unlabelled rows count'), unlabelled);
  const hint = h('small', { class: 'muted', id: 'preview-files-hint' });
  let files: PreviewFileInfo[] = [];

  const sync = () => {
    const live = select.value === LIVE;
    // .field sets display, which the hidden attribute does not win against.
    liveRow.style.display = live ? '' : 'none';
    fileRow.style.display = live ? 'none' : '';
  };
  select.addEventListener('change', sync);
  sync();

  const refresh = async () => {
    const listing = await api<Listing>('GET', '/api/policy/preview-files');
    files = listing.files;
    const keep = select.value;
    select.replaceChildren(
      h('option', { value: LIVE }, 'live samples (last N scored)'),
      ...files.map((f) =>
        h('option', { value: f.name, disabled: f.tooLarge }, `${f.name} · ${f.rows.toLocaleString()} rows · ${sizeText(f.bytes)} · ${dateTime(f.mtime)}${f.tooLarge ? ` · over ${listing.maxRows.toLocaleString()} rows` : ''}`),
      ),
    );
    select.value = files.some((f) => f.name === keep && !f.tooLarge) ? keep : LIVE;
    hint.textContent = listing.dir
      ? `${files.length ? `${files.length} labelled file${files.length === 1 ? '' : 's'}` : 'No labelled files yet'} in ${listing.dir}: a *.jsonl of transactions with its *.labels.jsonl beside it (npx fraudstream generate writes both); up to ${listing.maxRows.toLocaleString()} rows.`
      : '';
    sync();
  };

  const refreshBtn = h('button', { type: 'button', id: 'preview-files-refresh', title: 'list the files again' }, '↻');
  refreshBtn.addEventListener('click', () => void refresh().catch((err: unknown) => (hint.textContent = err instanceof Error ? err.message : String(err))));

  return {
    el: h('div', { class: 'preview-source' }, h('label', { class: 'field' }, h('span', {}, 'Preview on'), h('span', { class: 'amount-row' }, select, refreshBtn), hint), liveRow, fileRow),
    request: () => (select.value === LIVE ? { samples: Number(samplesInput.value) || 1000 } : { source: { file: select.value, unlabelled: unlabelled.value === 'unknown' ? 'unknown' : 'legit' } }),
    describe: () => {
      const f = files.find((x) => x.name === select.value);
      return f ? `${f.name} (${f.rows.toLocaleString()} transactions)` : `the last ${Number(samplesInput.value) || 1000} scored transactions`;
    },
    refresh,
  };
}

/** One line on how a file was scored: rows, labels, version, how unlabelled rows count, and whether scores were reused. */
export function fileSourceLine(s: FileSourceInfo): HTMLElement {
  const by = s.modelVersion ? `model ${s.modelVersion}` : 'no model (rules only)';
  const rest = s.unlabelled === 'legit' ? 'counted as legitimate' : 'counted as unknown (expected loss)';
  const cur = s.currencies.length > 1 ? ` Amounts in ${s.currency} (the file also holds ${s.currencies.slice(1).join(', ')}).` : '';
  return h(
    'p',
    { id: 'preview-file-info' },
    h('strong', {}, s.file),
    `: ${s.rows.toLocaleString()} transactions scored by ${by}; ${s.labelled.toLocaleString()} labelled, the rest ${rest}; heavy model on ${s.heavyScored.toLocaleString()}. `,
    h('span', { class: 'muted' }, s.cached ? 'Scores reused (same file, version and policy).' : `Scored in ${(s.scoreMs / 1000).toFixed(1)} s.`),
    cur,
  );
}
