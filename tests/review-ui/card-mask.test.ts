/**
 * Dead-letter payloads in the console (issue 19 item 6): what looks like a card number (a Luhn-valid run of 13 to 19
 * digits) or a security code (3-4 digits under a cvv/cvc-like key) is masked in what the page shows; the rest stays.
 */
import { describe, expect, it } from 'vitest';
import { luhnValid, maskCardData } from '../../review-ui/server/pure/card-mask.ts';
import { DeadLetterLog, toView } from '../../review-ui/server/dead-letters.ts';
import type { DeadLetter } from '../../core/contracts.ts';

describe('card data masking', () => {
  it('knows the Luhn check', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('378282246310005')).toBe(true); // 15-digit test Amex
    expect(luhnValid('')).toBe(false);
  });

  it('masks Luhn-valid 13-19 digit runs (plain, spaced, dashed) keeping the last 4 and the length', () => {
    const raw = '{"txId":"t1","pan":"4111111111111111","alt":"4111 1111 1111 1111","amex":"3782-822463-10005","n":6011000990139424}';
    const { text, masked } = maskCardData(raw);
    expect(masked).toBe(4);
    expect(text).toHaveLength(raw.length);
    expect(text).toContain('"pan":"************1111"');
    expect(text).toContain('"alt":"**** **** **** 1111"');
    expect(text).toContain('"amex":"****-******-*0005"');
    expect(text).toContain('"n":************9424');
    expect(text).not.toMatch(/4111111111111111|6011000990139424/);
  });

  it('leaves digit runs that are not card numbers: Luhn-invalid, too short or long, times', () => {
    // 1700000000004 passes Luhn (13 digits) but sits under a time key: an epoch in ms, not a card.
    expect(luhnValid('1700000000004')).toBe(true);
    const raw = '{"txId":"4111111111111112","id":"411111111111","long":"41111111111111111111111","ts":1700000000004,"createdAt":"1700000000004","amountMinor":1250}';
    expect(maskCardData(raw)).toEqual({ text: raw, masked: 0 });
    expect(maskCardData('{"ref":1700000000004}').masked).toBe(1);
  });

  it('masks 3-4 digit security codes under cvv/cvc-like keys, JSON or key=value', () => {
    const raw = '{"cvv":"123","CVC2":4567,"card_verification_value":"999","amount":123} cvv=321 securityCode: 0042';
    const { text, masked } = maskCardData(raw);
    expect(masked).toBe(5);
    expect(text).toBe('{"cvv":"***","CVC2":****,"card_verification_value":"***","amount":123} cvv=*** securityCode: ****');
  });

  it('the dead-letter view masks payload, key and reason; a cut payload never shows the part of a number past the cut', () => {
    const payload = `{"pan":"4111111111111111","cvv":"123","note":"${'x'.repeat(1990)}","pan2":"5555555555554444"}`;
    const letter: DeadLetter = {
      sourceTopic: 'transactions', partition: 0, offset: '7', key: '5555555555554444', rawBase64: Buffer.from(payload).toString('base64'),
      rawBytes: Buffer.byteLength(payload), reason: 'schema: cardId: 4111111111111111 is not a card id', stage: 'detect', failedAt: 1_700_000_000_000,
    };
    const v = toView(letter);
    expect(v.preview).toContain('"pan":"************1111","cvv":"***"');
    expect(v.preview).not.toContain('4111111111111111');
    expect(v.key).toBe('************4444');
    expect(v.reason).toBe('schema: cardId: ************1111 is not a card id');
    expect(v.masked).toBe(5);
    const log = new DeadLetterLog();
    log.add(letter);
    expect(JSON.stringify(log.summary({ limit: 10 }))).not.toMatch(/4111111111111111|5555555555554444|"cvv":"123"/);
  });
});
