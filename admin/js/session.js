// Who is signed in, and the steps of signing in and out. Views read it with `useSession()`.
import { useEffect, useState } from '../vendor/htm-preact-standalone.js';
import { ApiError, call, clearToken, hasToken, refresh, setToken, whenSessionLost } from './api.js';

/** @typedef {import('./types.js').BriefUser} BriefUser */

/**
 * `checking` while a reload's refresh cookie is tried; `notice` says why the last session ended.
 * @typedef {{phase: 'checking' | 'signedOut' | 'signedIn', user: BriefUser | null, notice: string}} SessionState
 */

/** @type {SessionState} */
let state = { phase: 'checking', user: null, notice: '' };
/** @type {Set<(s: SessionState) => void>} */
const listeners = new Set();

/** @param {Partial<SessionState>} next */
function set(next) {
  state = { ...state, ...next };
  for (const fn of listeners) fn(state);
}

export function useSession() {
  const [s, setS] = useState(state);
  useEffect(() => {
    listeners.add(setS);
    // Effects run after paint: catch up with a change made before this one subscribed (a
    // reload's refresh can answer first), or the screen would wait for the next change.
    setS(state);
    return () => { listeners.delete(setS); };
  }, []);
  return s;
}

whenSessionLost((reason) => set({ phase: 'signedOut', user: null, notice: `Signed out: ${reason}` }));

const NOT_ADMIN = 'NOT_ADMIN';
/** Whether this browser had a session: only a flag (the tokens are never stored), so a first
 * visit shows the sign-in form at once instead of waiting for the refresh cookie's answer. */
const HINT = 'shopd-admin-signed-in';

/** @param {boolean} on */
function hint(on) {
  try {
    if (on) localStorage.setItem(HINT, '1');
    else localStorage.removeItem(HINT);
  } catch {
    // Storage turned off: the app only waits a little longer on reload.
  }
}

function hinted() {
  try {
    return localStorage.getItem(HINT) === '1';
  } catch {
    return true;
  }
}

/** A reload: the refresh cookie, if it is still good, gives a token without asking again. */
export async function restore() {
  if (!hinted()) set({ phase: 'signedOut' });
  try {
    await refresh();
    const v = await call('get', '/api/v1/auth/validate');
    if (v.user.role !== 'ADMIN') {
      await endSession();
      set({ phase: 'signedOut', user: null, notice: '' });
      return;
    }
    // A sign-in made while the cookie was being tried wins over the restored session.
    if (state.phase !== 'signedIn') set({ phase: 'signedIn', user: v.user, notice: '' });
    hint(true);
  } catch {
    if (state.phase === 'signedIn') return;
    clearToken();
    hint(false);
    set({ phase: 'signedOut', user: null });
  }
}

/**
 * Signs in; throws the API's error (TWO_FACTOR_REQUIRED asks for a code) or NOT_ADMIN.
 * @param {{email: string, password: string, code?: string, recoveryCode?: string}} creds
 */
export async function signIn(creds) {
  const r = await call('post', '/api/v1/auth/login', { body: creds });
  setToken(r);
  if (r.user.role !== 'ADMIN') {
    // Leave no customer session behind in the admin's browser.
    await endSession();
    throw new ApiError(403, NOT_ADMIN, `${r.user.email} is not an admin account. Sign in with an admin account.`);
  }
  hint(true);
  const { id, email, firstName, lastName, role } = r.user;
  set({ phase: 'signedIn', user: { id, email, firstName, lastName, role }, notice: '' });
}

export async function signOut() {
  hint(false);
  await endSession();
  set({ phase: 'signedOut', user: null, notice: 'You are signed out.' });
}

async function endSession() {
  try {
    if (hasToken()) await call('post', '/api/v1/auth/logout');
  } catch {
    // Already over on the server (expired, revoked): nothing left to end.
  }
  clearToken();
}
