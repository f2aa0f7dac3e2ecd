// Sets request and response headers from its settings, and counts the
// requests seen by its instance (`x-plugin-count`) to show that in-memory
// state persists between requests.
import { middleware, log } from '@wasmgate/plugin-sdk';

let inits = 0;

export default middleware((settings) => {
  const known = new Set(['requestHeaders', 'responseHeaders']);
  for (const k of Object.keys(settings)) {
    if (!known.has(k)) throw new Error(`unknown field \`${k}\``);
  }
  const headers = (field) => {
    const m = settings[field] ?? {};
    const ok = typeof m === 'object' && !Array.isArray(m) && Object.values(m).every((v) => typeof v === 'string');
    if (!ok) throw new Error(`${field}: expected a map of strings`);
    return Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  };
  const requestHeaders = headers('requestHeaders');
  const responseHeaders = headers('responseHeaders');
  inits += 1;
  let count = 0;
  return {
    onRequest(req) {
      count += 1;
      for (const [name, value] of requestHeaders) {
        try {
          req.setHeader(name, value);
        } catch (e) {
          log.warn(`cannot set ${name}: ${e.payload?.tag ?? e}`);
        }
      }
      req.setHeader('x-plugin-count', String(count));
      req.setHeader('x-plugin-inits', String(inits));
    },
    onResponse(_req, resp) {
      for (const [name, value] of responseHeaders) {
        try {
          resp.setHeader(name, value);
        } catch {
          // same as the Rust version: ignored
        }
      }
      resp.setHeader('x-plugin-count', String(count));
    },
  };
});
