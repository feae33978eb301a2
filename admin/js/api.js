// The one way the app talks to shopd: `/api/v1` with the admin's access token.
//
// The access token lives in this module's memory only (never in web storage, where any script
// of the origin could read it); a reload gets a new one from the HttpOnly refresh cookie. Refresh tokens rotate and a reused one ends every session of the
// user, so a refresh is single-flight: one promise in this tab, and a Web Lock across tabs.

/** @typedef {import('./api-types').ApiPath} ApiPath */
/**
 * @template {ApiPath} P
 * @typedef {import('./api-types').MethodOf<P>} MethodOf
 */

const BASE = '/api/v1';
/** Refresh this long before the token runs out, so a request never leaves with a dying one. */
const EARLY_MS = 30_000;
/** A request with no answer by then is given up: no screen (nor a reload's session check) waits for ever. */
const TIMEOUT_MS = 30_000;
const REFRESH_TIMEOUT_MS = 10_000;

/** @type {string | null} */
let token = null;
let expiresAt = 0;
/** @type {Promise<void> | null} */
let refreshing = null;
/** @type {(reason: string) => void} */
let onSessionLost = () => {};

/** An error answer of the API (its envelope), or a network failure (status 0). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {Record<string, string[]>} [details]
   * @param {string} [requestId]
   */
  constructor(status, code, message, details = {}, requestId = '') {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }

  /**
   * @param {number} status
   * @param {unknown} body the parsed body, when it was JSON
   */
  static from(status, body) {
    if (isRecord(body) && typeof body.code === 'string') {
      /** @type {Record<string, string[]>} */
      const details = {};
      if (isRecord(body.details)) {
        for (const [field, v] of Object.entries(body.details)) {
          details[field] = Array.isArray(v) ? v.map(String) : [String(v)];
        }
      }
      const meta = isRecord(body.meta) ? body.meta : {};
      const message = typeof body.message === 'string' ? body.message : `Request failed (${status})`;
      return new ApiError(status, body.code, message, details, typeof meta.requestId === 'string' ? meta.requestId : '');
    }
    return new ApiError(status, 'HTTP_' + status, `The server answered ${status} without an explanation.`);
  }
}

/**
 * @param {unknown} v
 * @returns {v is Record<string, unknown>}
 */
function isRecord(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const OFFLINE = () => new ApiError(0, 'NETWORK', 'Cannot reach the server. Check the connection and try again.');

/** @param {(reason: string) => void} fn called when the session ends by itself (revoked, refresh refused) */
export function whenSessionLost(fn) {
  onSessionLost = fn;
}

/** @param {{token: string, expiresAt: string}} t */
export function setToken(t) {
  token = t.token;
  expiresAt = Date.parse(t.expiresAt);
}

export function clearToken() {
  token = null;
  expiresAt = 0;
}

export function hasToken() {
  return token !== null;
}

/** Exchanges the refresh cookie for a new access token (and a new cookie). */
export function refresh() {
  refreshing ??= lockAcrossTabs(async () => {
    const held = token;
    /** @type {Response} */
    let res;
    try {
      res = await fetch(BASE + '/auth/refresh', {
        method: 'POST', credentials: 'same-origin', signal: AbortSignal.timeout(REFRESH_TIMEOUT_MS),
        headers: { 'Content-Type': 'application/json' }, body: '{}',
      });
    } catch {
      throw OFFLINE();
    }
    const body = await readBody(res);
    if (!res.ok) {
      const err = ApiError.from(res.status, body);
      // A session that was open has ended (refresh token expired or revoked): back to sign-in.
      if (res.status === 401 && held && token === held) {
        clearToken();
        onSessionLost(err.message);
      }
      throw err;
    }
    const data = isRecord(body) && isRecord(body.data) ? body.data : {};
    if (typeof data.token !== 'string' || typeof data.expiresAt !== 'string') throw ApiError.from(res.status, body);
    setToken({ token: data.token, expiresAt: data.expiresAt });
  }).finally(() => { refreshing = null; });
  return refreshing;
}

/**
 * @param {() => Promise<void>} fn
 * @returns {Promise<void>}
 */
async function lockAcrossTabs(fn) {
  if (navigator.locks) await navigator.locks.request('shopd-admin-refresh', fn);
  else await fn();
}

/** @returns {Promise<Record<string, string>>} */
async function authHeaders() {
  if (token && Date.now() > expiresAt - EARLY_MS) await refresh();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** @param {Response} res */
async function readBody(res) {
  if (!(res.headers.get('content-type') ?? '').includes('json')) return null;
  try {
    return /** @type {unknown} */ (await res.json());
  } catch {
    return null;
  }
}

/**
 * @typedef {{status: number, body: unknown, blob?: Blob, filename?: string}} Answer
 */

/**
 * Runs a request with the bearer; an expired token is refreshed once and the request run again.
 * An answer that says the session is over (revoked, deactivated) signs the app out.
 * @param {(headers: Record<string, string>) => Promise<Answer>} attempt
 */
async function authorized(attempt) {
  let answer = await attempt(await authHeaders());
  if (answer.status === 401 && token && codeOf(answer.body) === 'TOKEN_EXPIRED') {
    await refresh();
    answer = await attempt(await authHeaders());
  }
  if (answer.status >= 400) {
    const err = ApiError.from(answer.status, answer.body);
    if (answer.status === 401 && token && !err.code.startsWith('TWO_FACTOR')) {
      clearToken();
      onSessionLost(err.message);
    }
    throw err;
  }
  return answer;
}

/** @param {unknown} body */
function codeOf(body) {
  return isRecord(body) && typeof body.code === 'string' ? body.code : '';
}

/**
 * @param {string} path a path of the API with `{name}` placeholders
 * @param {Record<string, unknown>} params
 * @param {Record<string, unknown>} query
 */
function urlOf(path, params, query) {
  const filled = path.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(String(params[name])));
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${filled}?${s}` : filled;
}

/**
 * Calls a documented endpoint: `call('get', '/api/v1/orders/{id}', {path: {id}})`. The path,
 * the parameters, the body and the answer's `data` are all typed by the OpenAPI document.
 * @template {ApiPath} P
 * @template {MethodOf<P>} M
 * @param {M} method
 * @param {P} path
 * @param {{
 *   path?: import('./api-types').PathParams<P, M>,
 *   query?: import('./api-types').Query<P, M>,
 *   body?: import('./api-types').Body<P, M>,
 *   form?: FormData,
 *   idempotencyKey?: string,
 * }} [opts]
 * @returns {Promise<import('./api-types').Data<P, M>>}
 */
export async function call(method, path, opts = {}) {
  const url = urlOf(path, asRecord(opts.path), asRecord(opts.query));
  const answer = await authorized(async (headers) => {
    /** @type {BodyInit | undefined} */
    let body;
    if (opts.form) {
      body = opts.form;
    } else if (opts.body !== undefined || method === 'post' || method === 'put' || method === 'patch') {
      // The API wants a JSON body on every write, `{}` when all its fields are optional.
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body ?? {});
    }
    if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
    /** @type {Response} */
    let res;
    try {
      res = await fetch(url, { method: method.toUpperCase(), headers, body, credentials: 'same-origin', signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch {
      throw OFFLINE();
    }
    return { status: res.status, body: await readBody(res) };
  });
  const data = isRecord(answer.body) ? answer.body.data : null;
  return /** @type {import('./api-types').Data<P, M>} */ (data);
}

/** @param {unknown} v */
function asRecord(v) {
  return isRecord(v) ? v : {};
}

/**
 * Fetches a file of the API (an invoice PDF, a CSV export) with the bearer and saves it.
 * @param {string} path under /api/v1, with its query
 * @param {string} fallbackName used when the answer names no file
 */
export async function download(path, fallbackName) {
  const answer = await authorized(async (headers) => {
    /** @type {Response} */
    let res;
    try {
      res = await fetch(path, { headers, credentials: 'same-origin', signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch {
      throw OFFLINE();
    }
    if (!res.ok) return { status: res.status, body: await readBody(res) };
    const disposition = res.headers.get('content-disposition') ?? '';
    const named = /filename="?([^";]+)"?/.exec(disposition);
    return { status: res.status, body: null, blob: await res.blob(), filename: named ? named[1] : fallbackName };
  });
  if (!answer.blob) return;
  const href = URL.createObjectURL(answer.blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = answer.filename ?? fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  // The click has started the save; the URL can go once the browser has read it.
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

/**
 * Sends a multipart form with XMLHttpRequest, the only browser API that reports upload progress.
 * @param {string} path under /api/v1
 * @param {FormData} form
 * @param {(fraction: number) => void} onProgress
 * @returns {Promise<unknown>} the envelope's `data`
 */
export async function upload(path, form, onProgress) {
  const answer = await authorized((headers) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      /** @type {unknown} */
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => reject(OFFLINE());
    xhr.send(form);
  }));
  return isRecord(answer.body) ? answer.body.data : null;
}

/** A key for one user action, so a retried refund or payment is done only once. */
export function newIdempotencyKey() {
  return crypto.randomUUID();
}
