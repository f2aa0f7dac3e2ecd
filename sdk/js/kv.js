// Key-value storage private to the plugin, shared by its instances (needs
// the `kv` grant). Errors throw with `payload` = the WIT `kv-error`.
import * as kv from 'wasmgate:plugin/kv@0.2.2';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

const ttl = (ms) => (ms === undefined || ms === null ? undefined : BigInt(ms));

/** The bytes under `key`, or undefined. */
export function get(key) {
  return kv.get(key);
}

/** The value under `key` as text, or undefined. */
export function getText(key) {
  const v = kv.get(key);
  return v === undefined ? undefined : decoder.decode(v);
}

/** Stores a string or Uint8Array; `ttlMs` makes it expire. */
export function set(key, value, ttlMs) {
  kv.set(key, typeof value === 'string' ? encoder.encode(value) : value, ttl(ttlMs));
}

/** Removes `key`; true if it existed. */
export function remove(key) {
  return kv.delete(key);
}

/**
 * Atomically adds `delta` to the counter under `key` and returns the new
 * value (a Number); `ttlMs` applies when the key is created (a fixed window).
 */
export function increment(key, delta = 1, ttlMs) {
  return Number(kv.increment(key, BigInt(delta), ttl(ttlMs)));
}
