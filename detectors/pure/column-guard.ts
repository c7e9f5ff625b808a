/**
 * Before training on a numeric CSV's columns as they are: a column that alone separates the classes is almost
 * always the answer leaking in (a scenario or chargeback column left in), and an id read as a number teaches the
 * model which rows were fraud by position. Both are refused with the column's name and what to do instead.
 */
import { averagePrecision } from './metrics.ts';

export interface ColumnProblem {
  name: string;
  kind: 'leak' | 'id';
  why: string;
}

const ID_NAME = /(^|[_\s-])(id|ids|uuid|guid|key|number|num|no)$|^id/i;

export function guardColumns(featureNames: readonly string[], rows: readonly ArrayLike<number>[], labels: ArrayLike<number>, valIdx: readonly number[], allow: ReadonlySet<string> = new Set()): ColumnProblem[] {
  const problems: ColumnProblem[] = [];
  const y = valIdx.map((i) => labels[i]);
  const hasBoth = y.includes(1) && y.includes(0);
  featureNames.forEach((name, j) => {
    if (allow.has(name)) return;
    let integral = true;
    const distinct = new Set<number>();
    for (const r of rows) {
      const x = r[j];
      if (!Number.isInteger(x)) integral = false;
      if (distinct.size <= rows.length) distinct.add(x);
    }
    if (integral && (distinct.size === rows.length || (ID_NAME.test(name) && distinct.size > 100))) {
      problems.push({ name, kind: 'id', why: `${distinct.size} distinct whole numbers in ${rows.length} rows: an id, not a quantity; map it as an entity (--map cardId=${name} or merchantId=${name}) instead` });
      return;
    }
    if (!hasBoth) return;
    const x = valIdx.map((i) => rows[i][j]);
    const ap = Math.max(averagePrecision(x, y), averagePrecision(x.map((v) => -v), y));
    if (ap >= 0.99) problems.push({ name, kind: 'leak', why: `alone it separates fraud on the validation slice (average precision ${ap.toFixed(4)}): the answer leaking in?` });
  });
  return problems;
}
