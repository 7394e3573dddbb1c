// The console's only way to the daemon: the /v1 API with the bearer token the operator
// entered on the sign-in page. The token lives in this tab's sessionStorage and goes only
// into the Authorization header, never into a URL.

const KEY = 'imvault.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

// An answer other than 2xx. `status` is 0 when the daemon could not be reached.
export class ApiError extends Error {
  constructor(status, message, field, body) {
    super(message);
    this.status = status;
    this.field = field || null;
    this.body = body || null;
  }
}

const listeners = { unauthorized: [], reachable: [], unreachable: [] };

// `unauthorized`: the token was refused (the session ended); `unreachable` / `reachable`:
// the daemon stopped or started answering.
export function on(event, f) {
  listeners[event].push(f);
}

function emit(event, arg) {
  for (const f of listeners[event]) f(arg);
}

let down = false;

// Calls the API; resolves to the parsed JSON body. `tokenOverride` is for the sign-in check.
export async function api(path, { method = 'GET', body, tokenOverride } = {}) {
  const t = tokenOverride ?? token();
  const headers = { Accept: 'application/json' };
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(`/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    if (!down) {
      down = true;
      emit('unreachable');
    }
    throw new ApiError(0, 'The daemon is not answering.');
  }
  if (down) {
    down = false;
    emit('reachable');
  }
  let data = null;
  const text = await r.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (r.status === 401) {
    if (tokenOverride === undefined) emit('unauthorized');
    throw new ApiError(401, (data && data.error) || 'The token was refused.', null, data);
  }
  if (!r.ok) {
    const message = (data && data.error) || `The daemon answered ${r.status}.`;
    throw new ApiError(r.status, message, data && data.field, data);
  }
  return data;
}

// Query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
