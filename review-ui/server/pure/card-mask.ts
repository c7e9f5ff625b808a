/**
 * Masks what looks like card data in text the console shows but did not parse (dead-letter payloads: whatever a
 * producer sent, valid JSON or not, cut or not). Card numbers: runs of 13 to 19 digits (single spaces or dashes
 * between them allowed, as people write them) that pass the Luhn check; all digits but the last 4 become `*`.
 * Security codes: 3 or 4 digits written as the value of a cvv/cvc-like key (`"cvv": "123"`, `cvc2=0123`); all
 * become `*`. Lengths are kept, so a preview cut at N characters never shows part of a number that was masked.
 * A digit run under a time-like key (`ts`, `time`, `…At`, `…_ms`) is left alone: an epoch in ms is 13 digits
 * and passes Luhn one time in ten.
 */

const CARD_RUN = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g;
const SECURITY_CODE = /((?:^|[^A-Za-z0-9])["']?(?:cvv2?|cvc2?|cvn|csc|security[_-]?code|card[_-]?verification(?:[_-]?(?:code|value))?)["']?\s*[:=]\s*["']?)(\d{3,4})(?!\d)/gi;
/** The key a value follows in JSON or key=value text, when the run is one. */
const KEY_BEFORE = /["']?([A-Za-z_][A-Za-z0-9_-]{0,63})["']?\s*[:=]\s*["']?$/;
const TIME_KEY = /^(ts|time|timestamp|date|epoch|[A-Za-z0-9_-]*(At|_at|Ts|_ts|Ms|_ms|Time|_time))$/;

/** The Luhn (mod 10) check every card number passes. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (d < 0 || d > 9) return false;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

export interface Masked {
  text: string;
  /** Card numbers and security codes masked. */
  masked: number;
}

/** `text` with card numbers and security codes masked (see the module's header). */
export function maskCardData(text: string): Masked {
  let masked = 0;
  const cards = text.replace(CARD_RUN, (run: string, offset: number) => {
    const digits = run.replace(/[ -]/g, '');
    if (digits.length < 13 || digits.length > 19 || !luhnValid(digits)) return run;
    const key = KEY_BEFORE.exec(text.slice(Math.max(0, offset - 80), offset))?.[1];
    if (key && TIME_KEY.test(key)) return run;
    masked += 1;
    let keep = 4;
    const out: string[] = [];
    for (let i = run.length - 1; i >= 0; i--) {
      const c = run[i] as string;
      if (c >= '0' && c <= '9') out.push(keep-- > 0 ? c : '*');
      else out.push(c);
    }
    return out.reverse().join('');
  });
  const codes = cards.replace(SECURITY_CODE, (_m: string, lead: string, code: string) => {
    masked += 1;
    return lead + '*'.repeat(code.length);
  });
  return { text: codes, masked };
}
