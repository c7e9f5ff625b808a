/**
 * HTTP bodies and queries of case work in the review console (issue 21): bulk verdicts over linked cases, search,
 * export. Kept beside core/contracts.ts (which holds the other bodies) so this work does not edit that shared file;
 * the same rules apply: zod at the boundary, types from z.infer, ids are strings, times epoch milliseconds.
 */
import { z } from 'zod';
import { ActionSchema, VerdictBodySchema } from './contracts.ts';

const id = z.string().min(1).max(128);

/** One verdict and one note over several cases (linked cases settled together); each case is closed and audited on its own. */
export const BulkVerdictBodySchema = z
  .object({
    caseIds: z.array(id).min(1, 'at least one case id').max(200, 'at most 200 cases at once'),
    verdict: VerdictBodySchema.shape.verdict,
    note: z.string().max(2000).default(''),
  })
  .strict();
export type BulkVerdictBody = z.infer<typeof BulkVerdictBodySchema>;

/** POST /api/cases/:id/claim: `renew` only extends the caller's own claim, never takes a released or lapsed case again. */
export const ClaimBodySchema = z.object({ renew: z.boolean().default(false) }).strict();

/** A time bound in a query: epoch milliseconds, or an ISO date / date-time ("2026-03-01", "2026-03-01T10:00Z"). */
const timeBound = () =>
  z
    .string()
    .max(40)
    .transform((raw, ctx) => {
      const t = /^\d{1,16}$/.test(raw) ? Number(raw) : /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
      if (!Number.isFinite(t)) {
        ctx.addIssue({ code: 'custom', message: `epoch milliseconds or an ISO date such as 2026-03-01 or 2026-03-01T10:00:00Z (got ${JSON.stringify(raw.slice(0, 40))})` });
        return z.NEVER;
      }
      return t;
    });

/** GET /api/search (and its CSV): every field optional; empty strings count as absent. */
export const SearchQuerySchema = z
  .object({
    card: id.optional(),
    /** A merchant id, exactly, or part of a merchant name (case-insensitive). */
    merchant: z.string().min(1).max(200).optional(),
    txId: id.optional(),
    action: ActionSchema.optional(),
    from: timeBound().optional(),
    to: timeBound().optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
    /** csv: the same rows as a spreadsheet file (review-ui/server/pure/csv.ts). */
    format: z.enum(['json', 'csv']).default('json'),
  })
  .strict()
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, { message: 'must not be later than to', path: ['from'] });
export type SearchQuery = z.infer<typeof SearchQuerySchema>;

/** Drops empty query parameters (an untouched form field) and refuses repeated ones, before SearchQuerySchema. */
export function searchQueryInput(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (Array.isArray(v)) out[k] = v; // zod names the field: expected string
    else if (typeof v === 'string' && v.trim() !== '') out[k] = v.trim();
  }
  return out;
}

export const ExportFormatSchema = z.enum(['json', 'html']);
