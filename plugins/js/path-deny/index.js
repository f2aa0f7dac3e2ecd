// Refuses requests whose path matches a deny-list, with 403 and a small
// body. An entry without `*` is a prefix (`/admin` denies `/admin` and
// `/admin/x`, not `/administrator`); an entry with `*` is a glob over the
// whole path where `*` matches within one segment and `**` across segments.
import { middleware, respond } from '@wasmgate/plugin-sdk';

const encoder = new TextEncoder();
const decoder = new TextDecoder(); // lossy, like the Rust version
const SLASH = 0x2f;
const STAR = 0x2a;

function prefixMatch(prefix, path) {
  const p = prefix.replace(/\/+$/, '');
  if (p === '') return true;
  if (!path.startsWith(p)) return false;
  const rest = path.slice(p.length);
  return rest === '' || rest.startsWith('/');
}

// `**` matches anything (and `**/` zero or more whole segments), `*`
// anything but `/`; every other byte matches itself.
function globMatch(pat, pi, path, si) {
  if (pi === pat.length) return si === path.length;
  if (pat[pi] === STAR && pat[pi + 1] === STAR && pat[pi + 2] === SLASH) {
    if (globMatch(pat, pi + 3, path, si)) return true;
    for (let i = si; i < path.length; i++) {
      if (path[i] === SLASH && globMatch(pat, pi + 3, path, i + 1)) return true;
    }
    return false;
  }
  if (pat[pi] === STAR && pat[pi + 1] === STAR) {
    for (let i = si; i <= path.length; i++) if (globMatch(pat, pi + 2, path, i)) return true;
    return false;
  }
  if (pat[pi] === STAR) {
    let end = path.indexOf(SLASH, si);
    if (end < 0) end = path.length;
    for (let i = si; i <= end; i++) if (globMatch(pat, pi + 1, path, i)) return true;
    return false;
  }
  return path[si] === pat[pi] && globMatch(pat, pi + 1, path, si + 1);
}

// Decodes `%XX` escapes, so `/%61dmin` cannot slip past `/admin`.
function percentDecode(path) {
  const b = encoder.encode(path);
  const out = [];
  const hex = (c) => {
    const v = parseInt(String.fromCharCode(c), 16);
    return Number.isNaN(v) ? undefined : v;
  };
  for (let i = 0; i < b.length; ) {
    if (b[i] === 0x25 && i + 2 < b.length) {
      const h = hex(b[i + 1]);
      const l = hex(b[i + 2]);
      if (h !== undefined && l !== undefined) {
        out.push(h * 16 + l);
        i += 3;
        continue;
      }
    }
    out.push(b[i]);
    i += 1;
  }
  return decoder.decode(new Uint8Array(out));
}

export default middleware((settings) => {
  for (const k of Object.keys(settings)) {
    if (!['deny', 'status', 'body'].includes(k)) throw new Error(`unknown field \`${k}\``);
  }
  if (!Array.isArray(settings.deny)) throw new Error('missing field `deny`');
  const deny = settings.deny.map(String);
  const status = settings.status ?? 403;
  const body = settings.body ?? 'forbidden\n';
  const bad = deny.find((e) => !e.startsWith('/'));
  if (bad !== undefined) throw new Error(`deny entry \`${bad}\` must start with \`/\``);
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new Error(`status ${status} is not valid`);
  }
  const globs = deny.filter((e) => e.includes('*')).map((e) => encoder.encode(e));
  const prefixes = deny.filter((e) => !e.includes('*'));
  const refusal = respond(status, { headers: { 'content-type': 'text/plain; charset=utf-8' }, body });
  return {
    onRequest(req) {
      const path = percentDecode(req.path());
      const bytes = encoder.encode(path);
      if (prefixes.some((p) => prefixMatch(p, path)) || globs.some((g) => globMatch(g, 0, bytes, 0))) {
        return refusal;
      }
    },
  };
});
