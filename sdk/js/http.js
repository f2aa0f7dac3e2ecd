// Outbound HTTP to allowlisted hosts (needs the `outboundHTTP` grant).
import { send as hostSend } from 'wasmgate:plugin/outbound-http@0.2.2';

const encoder = new TextEncoder();

/**
 * Sends one request: `send(url, { method, headers, body, timeoutMs })`.
 * Returns `{ status, headers: [[name, value]], body: Uint8Array }`; throws
 * with `payload` = the WIT `error` (`denied`, `timeout`, ...).
 */
export function send(url, { method = 'GET', headers = {}, body, timeoutMs } = {}) {
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  return hostSend({
    method,
    url,
    headers: pairs.map(([n, v]) => [String(n), String(v)]),
    body: body === undefined ? undefined : typeof body === 'string' ? encoder.encode(body) : body,
    timeoutMs,
  });
}
