/** A logged-in API client of the review console: its session cookie and CSRF token. */
export interface Client {
  cookie: string;
  csrf: string;
}

/** POST /api/login; `client` is set only when the login succeeded. */
export async function apiLogin<B = { error?: string; csrf?: string; role?: string }>(
  baseUrl: string,
  username: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: B; client?: Client }> {
  const res = await fetch(`${baseUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username, password }) });
  const body = (await res.json()) as B & { csrf?: string };
  const cookie = res.headers.get('set-cookie')?.split(';')[0];
  return { status: res.status, body, ...(cookie && body.csrf ? { client: { cookie, csrf: body.csrf } } : {}) };
}

/** One API request as `c` (none: anonymous), with its CSRF token unless `csrf` is false; a string body is sent as is. */
export function apiCall(baseUrl: string, c: Client | undefined, method: string, path: string, body?: unknown, csrf = true): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method,
    redirect: 'manual',
    headers: {
      ...(c ? { cookie: c.cookie } : {}),
      ...(c && csrf ? { 'x-csrf-token': c.csrf } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
}
