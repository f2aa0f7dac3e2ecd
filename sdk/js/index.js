// The wasmgate plugin SDK for JavaScript. A plugin module default-exports
// `middleware(factory)` or `matcher(factory)`; `wasmgate-js-build` (build.mjs)
// turns it into a WebAssembly component with ComponentizeJS.
//
// The request and response passed to `onRequest`/`onResponse`/`matches` are
// the gateway's objects (WIT resources): `req.header(name)` (a string or
// undefined), `req.headerAll(name)`, `req.headerNames()`, `req.setHeader(name,
// value)`, `req.setHeaders([[name, value], ...])` (one host call for several),
// `req.setResponseHeaders([[name, value], ...])` (queued for the response: no
// `onResponse` needed),
// `req.appendHeader`, `req.removeHeader`, `req.method()`,
// `req.scheme()`, `req.authority()`, `req.path()`, `req.query()`,
// `req.setPath`, `req.setQuery`, `req.clientAddress()`, `req.body()`
// (Uint8Array), `req.setBody(bytes)`; on a response `status()`,
// `setStatus(code)`, the same header and body methods. A refused change
// throws an error whose `payload` is the WIT `http-error`
// (`{ tag: 'invalid', val: why }`, `{ tag: 'read-only' }`, ...).

import { log as hostLog, enabled as hostEnabled } from 'wasmgate:plugin/log@0.2.2';

const encoder = new TextEncoder();

/** The kind of plugin a module exports: its world. */
const KIND = Symbol.for('wasmgate.kind');

/**
 * Declares an HTTP middleware (world `http-middleware`). `factory(settings)`
 * runs once per instance with the settings object (`{}` when none) and
 * returns the handlers: `{ onRequest(req), onResponse(req, resp) }`, both
 * optional (leave `onResponse` out when the plugin only acts on requests: the
 * gateway then makes one call per request). Throwing refuses the plugin at load with the error's message.
 * `onRequest` returns nothing to continue, or `respond(...)` to answer.
 */
export function middleware(factory) {
  return { [KIND]: 'http-middleware', factory };
}

/**
 * Declares a route matcher (world `route-matcher`): `factory(settings)`
 * returns `{ matches(req) }`, which returns a boolean.
 */
export function matcher(factory) {
  return { [KIND]: 'route-matcher', factory };
}

/**
 * An answer from `onRequest` instead of calling the service. `headers` is an
 * object (`{ name: value }`) or an array of `[name, value]` pairs; `body` a
 * string or Uint8Array.
 */
export function respond(status, { headers = {}, body = '' } = {}) {
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  return {
    tag: 'respond',
    val: {
      status,
      headers: pairs.map(([n, v]) => [String(n), String(v)]),
      body: typeof body === 'string' ? encoder.encode(body) : body,
    },
  };
}

/** Writes to the gateway's log, tagged with the plugin's name. */
export const log = {
  trace: (msg) => hostLog('trace', String(msg)),
  debug: (msg) => hostLog('debug', String(msg)),
  info: (msg) => hostLog('info', String(msg)),
  warn: (msg) => hostLog('warn', String(msg)),
  error: (msg) => hostLog('error', String(msg)),
  /** Whether records at `level` are recorded (skip expensive formatting). */
  enabled: (level) => hostEnabled(level),
};

/** The message of a thrown value, WIT errors (`payload`) included. */
export function errorMessage(e) {
  if (e && typeof e === 'object' && 'payload' in e) {
    const p = e.payload;
    if (p && typeof p === 'object' && 'tag' in p) {
      return p.val === undefined ? p.tag : `${p.tag}: ${p.val}`;
    }
    return String(p);
  }
  return e instanceof Error ? e.message : String(e);
}

const CONTINUE = { tag: 'continue' };

/**
 * The world exports for a plugin module's default export (used by the
 * generated entry module; not needed in plugin code).
 */
export function exportsFor(plugin, world) {
  if (!plugin || plugin[KIND] !== world) {
    throw new Error(`the plugin's default export must be ${world === 'route-matcher' ? 'matcher' : 'middleware'}(factory)`);
  }
  let handlers = null;
  const configure = (settingsJson) => {
    let settings;
    try {
      settings = settingsJson.trim() === '' ? {} : JSON.parse(settingsJson);
    } catch (e) {
      throw `invalid settings: ${errorMessage(e)}`;
    }
    try {
      handlers = plugin.factory(settings) || {};
    } catch (e) {
      throw errorMessage(e);
    }
  };
  if (world === 'route-matcher') {
    return {
      configure,
      matches: (req) => Boolean(handlers.matches(req)),
    };
  }
  return {
    configure,
    onRequest: (req) => {
      if (!handlers.onRequest) return CONTINUE;
      return handlers.onRequest(req) || CONTINUE;
    },
    // False tells the gateway that the plugin has no response phase: it then
    // stops calling onResponse and holds no instance while the service answers.
    onResponse: (req, resp) => {
      if (!handlers.onResponse) return false;
      handlers.onResponse(req, resp);
      return true;
    },
  };
}
