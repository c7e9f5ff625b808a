/** Where the world happens: cities with a country, position, UTC offset (no DST) and how many cardholders live there. */
export interface City {
  name: string;
  country: string;
  lat: number;
  lon: number;
  /** Hours from UTC, used for cardholders' active hours and the novel scenario's "night". */
  tz: number;
  /** Share of cardholders who live here; 0 = visited only (travel, fraud). */
  homeWeight: number;
  /** How often legitimate travellers go there. */
  travelWeight: number;
  /** How often fraudsters operate from there. */
  fraudWeight: number;
  currency: string;
}

const c = (
  name: string,
  country: string,
  lat: number,
  lon: number,
  tz: number,
  homeWeight: number,
  travelWeight: number,
  fraudWeight: number,
  currency = 'EUR',
): City => ({ name, country, lat, lon, tz, homeWeight, travelWeight, fraudWeight, currency });

export const CITIES: readonly City[] = [
  c('Paris', 'FR', 48.8566, 2.3522, 1, 10, 6, 1),
  c('Lyon', 'FR', 45.764, 4.8357, 1, 3, 2, 0),
  c('Marseille', 'FR', 43.2965, 5.3698, 1, 3, 2, 0.5),
  c('Toulouse', 'FR', 43.6047, 1.4442, 1, 2, 1, 0),
  c('Lille', 'FR', 50.6292, 3.0573, 1, 2, 1, 0),
  c('Berlin', 'DE', 52.52, 13.405, 1, 6, 4, 0.5),
  c('Munich', 'DE', 48.1351, 11.582, 1, 4, 3, 0),
  c('Hamburg', 'DE', 53.5511, 9.9937, 1, 3, 2, 0),
  c('Frankfurt', 'DE', 50.1109, 8.6821, 1, 2, 2, 0),
  c('Madrid', 'ES', 40.4168, -3.7038, 1, 5, 4, 0.5),
  c('Barcelona', 'ES', 41.3874, 2.1686, 1, 4, 6, 1),
  c('Valencia', 'ES', 39.4699, -0.3763, 1, 2, 2, 0),
  c('Rome', 'IT', 41.9028, 12.4964, 1, 4, 5, 0.5),
  c('Milan', 'IT', 45.4642, 9.19, 1, 4, 3, 0.5),
  c('Amsterdam', 'NL', 52.3676, 4.9041, 1, 3, 5, 0.5),
  c('Rotterdam', 'NL', 51.9244, 4.4777, 1, 2, 1, 0),
  c('Brussels', 'BE', 50.8503, 4.3517, 1, 2, 2, 0),
  c('Lisbon', 'PT', 38.7223, -9.1393, 0, 2, 4, 0.5),
  c('Dublin', 'IE', 53.3498, -6.2603, 0, 2, 2, 0),
  c('London', 'GB', 51.5074, -0.1278, 0, 8, 6, 1, 'GBP'),
  c('Manchester', 'GB', 53.4808, -2.2426, 0, 3, 1, 0.5, 'GBP'),
  c('New York', 'US', 40.7128, -74.006, -5, 3, 3, 1, 'USD'),
  c('Chicago', 'US', 41.8781, -87.6298, -6, 1, 1, 0.5, 'USD'),
  c('San Francisco', 'US', 37.7749, -122.4194, -8, 1, 1, 0.5, 'USD'),
  c('Bucharest', 'RO', 44.4268, 26.1025, 2, 0, 0.5, 3),
  c('Istanbul', 'TR', 41.0082, 28.9784, 3, 0, 1, 2),
  c('Dubai', 'AE', 25.2048, 55.2708, 4, 0, 2, 1),
  c('Lagos', 'NG', 6.5244, 3.3792, 1, 0, 0.2, 4),
  c('Sao Paulo', 'BR', -23.5505, -46.6333, -3, 0, 0.5, 3),
  c('Mexico City', 'MX', 19.4326, -99.1332, -6, 0, 1, 2),
  c('Bangkok', 'TH', 13.7563, 100.5018, 7, 0, 2, 2),
  c('Jakarta', 'ID', -6.2088, 106.8456, 7, 0, 0.3, 3),
  c('Manila', 'PH', 14.5995, 120.9842, 8, 0, 0.3, 3),
  c('Ho Chi Minh City', 'VN', 10.8231, 106.6297, 7, 0, 0.5, 2),
  c('Singapore', 'SG', 1.3521, 103.8198, 8, 0, 1, 1),
  c('Tokyo', 'JP', 35.6762, 139.6503, 9, 0, 2, 0.5),
];

const rad = Math.PI / 180;

/** A point about `km` (uniform in the disc) from the given one; good enough for jitter of a few kilometres. */
export function jitter(lat: number, lon: number, km: number, u: number, v: number): [number, number] {
  const r = km * Math.sqrt(u);
  const theta = 2 * Math.PI * v;
  const dLat = (r * Math.cos(theta)) / 111;
  const dLon = (r * Math.sin(theta)) / (111 * Math.max(0.2, Math.cos(lat * rad)));
  return [round5(Math.max(-90, Math.min(90, lat + dLat))), round5(Math.max(-180, Math.min(180, lon + dLon)))];
}

export function round5(x: number): number {
  return Math.round(x * 1e5) / 1e5;
}
