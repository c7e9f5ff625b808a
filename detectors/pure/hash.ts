/** FNV-1a, 32-bit. Never returns 0, so 0 can mean "none" in packed card state. */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

/**
 * A 52-bit identity for a transaction id: two independent 32-bit hashes, so the idempotency ring of a card
 * (a few dozen ids) practically never confuses two ids, and the value survives a float64 round trip.
 */
export function txKey(txId: string): number {
  const a = hash32(txId);
  const b = hash32(txId, 0x9747b28c);
  return a * 1048576 + (b & 0xfffff);
}

/** ISO 3166 alpha-2 code packed into 16 bits (0 = none). */
export function countryCode(country: string): number {
  return ((country.charCodeAt(0) & 0xff) << 8) | (country.charCodeAt(1) & 0xff);
}
