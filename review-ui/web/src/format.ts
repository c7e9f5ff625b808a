/** Numbers for people, and back: pure, so the Policy page's conversions are unit-tested without a browser. */

/** Digits of a currency's minor unit (EUR 2, JPY 0); 2 when unknown or not given. */
export function minorDigits(currency: string | null): number {
  if (!currency) return 2;
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** "EUR 2,500.00" from 250000 minor units (in the reader's locale); without a currency, just the amount. */
export function amountText(minor: number, currency: string | null, locale?: string): string {
  const digits = minorDigits(currency);
  const major = minor / 10 ** digits;
  if (currency) {
    try {
      return new Intl.NumberFormat(locale, { style: 'currency', currency, currencyDisplay: 'code' }).format(major);
    } catch {
      // an unknown code: fall through to the plain number with the code after it
    }
  }
  const plain = new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(major);
  return currency ? `${plain} ${currency}` : plain;
}

/** What an amount input shows for minor units: major units with the currency's digits ("2500.00"). */
export function majorInput(minor: number, currency: string | null): string {
  return (minor / 10 ** minorDigits(currency)).toFixed(minorDigits(currency));
}

/** Minor units from what a person typed in major units; an error that says what to fix when it cannot be. */
export function minorFromInput(text: string, currency: string | null, what: string): number {
  const digits = minorDigits(currency);
  const value = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new Error(`${what}: a positive amount, e.g. 2500${digits ? `.${'0'.repeat(digits)}` : ''}`);
  const minor = value * 10 ** digits;
  const rounded = Math.round(minor);
  if (Math.abs(minor - rounded) > 1e-6 * Math.max(1, Math.abs(minor))) throw new Error(`${what}: at most ${digits} digits after the decimal point`);
  return rounded;
}

/** A probability threshold as people reason about it: 0.563, 0.9 (three decimals, trailing zeros dropped). */
export function thresholdText(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && Math.abs(x) < 0.001) return x.toPrecision(2);
  return String(Number(x.toFixed(3)));
}
