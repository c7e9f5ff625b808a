import { describe, expect, it } from 'vitest';
import { csvCell, decisionsCsv } from '../../review-ui/server/pure/csv.ts';
import { DecisionSchema } from '../../core/contracts.ts';
import { tx } from '../router/review-queue-fixtures.ts';

describe('CSV cells', () => {
  it('neutralises cells a spreadsheet would evaluate: = + - @ and a leading tab or carriage return', () => {
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvCell('+1+1')).toBe("'+1+1");
    expect(csvCell('-2+3')).toBe("'-2+3");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\t=1')).toBe("'\t=1");
    expect(csvCell('\r=1')).toBe(`"'\r=1"`);
  });

  it('leaves ordinary text and numbers alone, quotes commas, quotes and line breaks', () => {
    expect(csvCell('Corner Shop')).toBe('Corner Shop');
    expect(csvCell('a=b')).toBe('a=b');
    expect(csvCell(1234)).toBe('1234');
    expect(csvCell(0.25)).toBe('0.25');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell('Shop, Inc.')).toBe('"Shop, Inc."');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
  });

  it('writes a header and one line per decision, with the hostile merchant neutralised', () => {
    const d = DecisionSchema.parse({
      decisionId: 'd1', txId: 'tx-1', cardId: 'card-1', action: 'BLOCK', stage: 'detect', final: true, reason: 'rule', scores: { xgboost: 0.9 },
      rulesFired: [], topFeatures: [], versions: { model: 'm', policy: 1 }, timings: {}, decidedAt: Date.UTC(2026, 0, 2, 3, 4, 5), tx: tx({ merchantName: '=cmd|\' /C calc\'!A0' }),
    });
    const csv = decisionsCsv([{ ...d, scenario: 'card_testing' }], ['xgboost', 'heavy']);
    const [header, line, end] = csv.split('\r\n');
    expect(header).toBe('decided_at,action,stage,final,tx_id,card_id,merchant_id,merchant_name,amount_minor,currency,country,channel,stake_minor,score_xgboost,score_heavy,label,reason,analyst,note');
    expect(line).toBe("2026-01-02T03:04:05.000Z,BLOCK,detect,true,tx-1,card-1,m-1,'=cmd|' /C calc'!A0,1234,EUR,FR,card_present,,0.9,,card_testing,rule,,");
    expect(end).toBe('');
  });
});
