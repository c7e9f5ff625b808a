// A console session for the demo scripts: one cookie, JSON in and out, the CSRF header when given.
/* global fetch */
export function consoleClient(url) {
  let cookie = '';
  return async function call(method, path, body, csrf) {
    const r = await fetch(url + path, { method, headers: { 'Content-Type': 'application/json', Origin: url, ...(cookie ? { Cookie: cookie } : {}), ...(csrf ? { 'X-CSRF-Token': csrf } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const set = r.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0];
    const text = await r.text();
    let parsed = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = text;
    }
    return { status: r.status, ok: r.ok, text, body: parsed };
  };
}
