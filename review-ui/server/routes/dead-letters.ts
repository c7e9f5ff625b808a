/** The Dead letters page: what the stages could not process, why, and a text preview of each payload. */
import { Router } from 'express';
import { UserInputError } from '../../../core/errors.ts';
import type { DeadLetterLog } from '../dead-letters.ts';
import { intQuery } from '../middleware.ts';

/** Reason kinds are cut to this length by reasonKind, so a longer filter can never match. */
const KIND_MAX = 60;

export function deadLettersRouter({ letters }: { letters: DeadLetterLog }): Router {
  const r = Router();
  r.get('/dead-letters', (req, res) => {
    const limit = intQuery(req.query.limit, 'limit', 200, 1000);
    const raw = req.query.kind;
    if (raw !== undefined && (typeof raw !== 'string' || raw.length === 0 || raw.length > KIND_MAX)) {
      throw new UserInputError(`kind: one reason kind (1 to ${KIND_MAX} characters, e.g. "schema"), given once`);
    }
    res.json(letters.summary({ ...(raw === undefined ? {} : { kind: raw }), limit }));
  });
  return r;
}
