// Calls to netsim's origin: the page's own endpoints, the proxied admin
// APIs of dnsd (/dns/…) and of each lbd (/lb/{name}/…), the control API.

const KEY = 'netsim.token';

// The token lives in this tab's sessionStorage only: never in the page.
export const token = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

// ApiError carries the API's error code and message (REST.md envelope).
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// api calls method path and returns the parsed body (null for 204).
export async function api(method, path, body) {
  const headers = {Accept: 'application/json'};
  if (method !== 'GET' && token.get()) headers.Authorization = 'Bearer ' + token.get();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new ApiError(0, 'network', `netsim does not answer (${method} ${path}): ${e.message}`);
  }
  if (resp.status === 204) return null;
  let doc = null;
  try { doc = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) {
    const e = doc && doc.error;
    throw new ApiError(resp.status, e ? e.code : 'http_' + resp.status, e ? e.message : `${method} ${path}: ${resp.status} ${resp.statusText}`);
  }
  return doc;
}

// poll runs f now and every ms until the page closes; a failing f is
// retried at the next tick. kick() runs it soon, at most once per 150 ms.
export function poll(f, ms) {
  let timer = 0, running = false, again = false;
  const run = async () => {
    clearTimeout(timer);
    if (running) { again = true; return; }
    running = true;
    try { await f(); } catch { /* shown by f */ }
    running = false;
    timer = setTimeout(run, again ? 150 : ms);
    again = false;
  };
  run();
  let soon = 0;
  return {kick: () => { if (!soon) soon = setTimeout(() => { soon = 0; run(); }, 150); }};
}

// h builds an element: h('td', {class: 'num'}, 'text', child…).
export function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null) e.append(k);
  return e;
}

// The state words and their shapes (colour is never the only cue).
export const GLYPH = {up: '●', draining: '◐', maintenance: '■', down: '✕', unreachable: '✕', mixed: '◇', unknown: '?'};

export function stateBadge(state) {
  return h('span', {class: 'st ' + state}, `${GLYPH[state] || '?'} ${state}`);
}

// fmtTime is hh:mm:ss.mmm of an RFC 3339 time (local clock).
export function fmtTime(t) {
  const d = t ? new Date(t) : new Date();
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
