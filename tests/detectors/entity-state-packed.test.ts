/**
 * The feature store reads entity hashes packed by its Lua (a u32 field count, then per field a u32 name length, the
 * name, a u32 value length, the value) and decodes them in place (entityStateFromPackedAt); it must give exactly what
 * decoding the same fields as pairs gives (entityStateFromFields, the reference every other reader uses).
 */
import { describe, expect, it } from 'vitest';
import { emptyEntityState, entityStateFromFields, entityStateFromPackedAt } from '../../detectors/pure/entity-state.ts';
import { mulberry32 } from '../../detectors/pure/rng.ts';

type Field = readonly [string, Uint8Array];

function doubles(...xs: number[]): Uint8Array {
  const b = Buffer.alloc(8 * xs.length);
  xs.forEach((x, i) => b.writeDoubleLE(x, 8 * i));
  return b;
}

function records(n: number, rand: () => number, int: 'u32' | 'i32'): Uint8Array {
  const b = Buffer.alloc(12 * n);
  for (let i = 0; i < n; i++) {
    if (int === 'u32') b.writeUInt32LE(Math.floor(rand() * 2 ** 32), 12 * i);
    else b.writeInt32LE(Math.floor(rand() * 40_000) - 100, 12 * i);
    b.writeDoubleLE(1.7e12 + Math.floor(rand() * 1e9), 12 * i + 4);
  }
  return b;
}

function pack(entities: Field[][]): Buffer {
  const parts: Buffer[] = [];
  for (const fields of entities) {
    const n = Buffer.alloc(4);
    n.writeUInt32LE(fields.length);
    parts.push(n);
    for (const [name, value] of fields) {
      const nl = Buffer.alloc(4);
      nl.writeUInt32LE(Buffer.byteLength(name, 'latin1'));
      const vl = Buffer.alloc(4);
      vl.writeUInt32LE(value.byteLength);
      parts.push(nl, Buffer.from(name, 'latin1'), vl, Buffer.from(value));
    }
  }
  return Buffer.concat(parts);
}

function randomFields(rand: () => number): Field[] {
  const fields: Field[] = [];
  const days = new Set<number>();
  const nDays = Math.floor(rand() * 35);
  while (days.size < nDays) days.add(20_000 + Math.floor(rand() * 60));
  for (const d of days) fields.push([`d${d}`, doubles(rand() * 9, rand() * 1e6, rand() * 1e5, Math.floor(rand() * 3))]);
  if (rand() < 0.8) fields.push(['m', doubles(1.7e12 + rand() * 1e9, 1.71e12 + rand() * 1e9)]);
  if (rand() < 0.7) fields.push(['c', records(Math.floor(rand() * 64), rand, 'u32')]);
  if (rand() < 0.4) fields.push(['p', records(Math.floor(rand() * 10), rand, 'i32')]);
  // Fields no reader uses: skipped by both.
  if (rand() < 0.3) fields.push(['mm', doubles(1, 2)], ['x', doubles(3)], ['', doubles(4)]);
  // A hash's fields come in any order.
  for (let i = fields.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [fields[i], fields[j]] = [fields[j]!, fields[i]!];
  }
  return fields;
}

describe('entity state read in place from a packed read', () => {
  it('equals the state decoded from the same fields as pairs, for every entity of a packed reply', () => {
    const rand = mulberry32(29);
    for (let round = 0; round < 40; round++) {
      const entities = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => randomFields(rand));
      const packed = pack(entities);
      const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
      let o = 0;
      for (const fields of entities) {
        const state = emptyEntityState();
        o = entityStateFromPackedAt(dv, o, state);
        expect(state).toEqual(entityStateFromFields(fields));
      }
      expect(o).toBe(packed.length);
    }
  });

  it('reads an entity with no fields as the empty state, and a day name with other characters as Number does', () => {
    const packed = pack([[], [['d007', doubles(1, 2, 3, 0)], ['d1e1', doubles(4, 5, 6, 1)]]]);
    const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
    const empty = emptyEntityState();
    const next = entityStateFromPackedAt(dv, 0, empty);
    expect(empty).toEqual(emptyEntityState());
    const odd = emptyEntityState();
    expect(entityStateFromPackedAt(dv, next, odd)).toBe(packed.length);
    expect(odd.days).toEqual([7, 10]);
    expect(odd.count).toEqual([1, 4]);
  });
});
