import { describe, expect, it } from 'vitest';
import { CsvSyntaxError, parseCsv, parseCsvLine } from '../../core/csv.ts';

describe('the one CSV reader', () => {
  it('reads a whole file: BOM, CRLF, blank lines, a quoted field across lines', () => {
    expect(parseCsv('\ufeffa,b\r\n\r\n"line1\nline2",2\n3,\n')).toEqual([['a', 'b'], ['line1\nline2', '2'], ['3', '']]);
  });

  it('reads one line the same way as the file reader does', () => {
    const line = 'x,"a, ""b""",,z';
    expect(parseCsvLine(line)).toEqual(parseCsv(line)[0]);
  });

  it('rejects an unterminated quote and text after a closing quote, with a typed error', () => {
    expect(() => parseCsv('a,"b\n')).toThrow(CsvSyntaxError);
    expect(() => parseCsvLine('"a"b')).toThrow(/position 4/);
  });
});
