// Small building blocks every screen uses: loading, errors, empty lists, fields, badges, paging.
import { html, useCallback, useEffect, useRef, useState } from '../vendor/htm-preact-standalone.js';
import { ApiError } from './api.js';
import { label } from './format.js';

/** @typedef {import('../vendor/htm-preact-standalone.js').Child} Child */

/**
 * Loads data for a screen, again when `deps` change (showing nothing stale meanwhile), and on
 * `reload()` (keeping what is shown until the new data is there, so the screen keeps its state).
 * @template T
 * @param {() => Promise<T>} load
 * @param {readonly unknown[]} deps
 */
export function useAsync(load, deps) {
  const key = JSON.stringify(deps);
  const [s, setS] = useState(/** @type {{key: string, data: T | null, error: unknown, loading: boolean}} */ ({ key, data: null, error: null, loading: true }));
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setS((prev) => ({ key, data: prev.key === key ? prev.data : null, error: null, loading: true }));
    load().then(
      (data) => { if (mine === seq.current) setS({ key, data, error: null, loading: false }); },
      (error) => { if (mine === seq.current) setS({ key, data: null, error, loading: false }); },
    );
  }, deps);
  useEffect(run, [run]);
  const fresh = s.key === key;
  return { data: fresh ? s.data : null, error: fresh ? s.error : null, loading: fresh ? s.loading : true, reload: run };
}

/** @param {{label?: string}} props */
export function Loading({ label: text = 'Loading…' }) {
  return html`<p class="loading" role="status">${text}</p>`;
}

/** @param {unknown} e */
export function messageOf(e) {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return 'Something went wrong.';
}

/** @param {{error: unknown, onRetry?: () => void}} props */
export function ErrorBox({ error, onRetry }) {
  if (!error) return null;
  const ref = error instanceof ApiError && error.requestId ? error.requestId : '';
  return html`<div class="error" role="alert">
    <p>${messageOf(error)}</p>
    ${ref && html`<p class="small">Reference: <code>${ref}</code></p>`}
    ${onRetry && html`<button type="button" class="secondary" onClick=${onRetry}>Try again</button>`}
  </div>`;
}

/** @param {{children: Child}} props */
export function Empty({ children }) {
  return html`<p class="empty">${children}</p>`;
}

/**
 * A labelled input with its errors beside it (`error.details` of a VALIDATION_ERROR).
 * @param {{id: string, label: string, errors?: string[], hint?: string, children: Child}} props
 */
export function Field({ id, label: text, errors = [], hint, children }) {
  return html`<div class=${'field' + (errors.length ? ' invalid' : '')}>
    <label for=${id}>${text}</label>
    ${children}
    ${hint && html`<p class="hint" id=${id + '-hint'}>${hint}</p>`}
    ${errors.map((m) => html`<p class="field-error" id=${id + '-error'}>${m}</p>`)}
  </div>`;
}

/** @param {{status: string}} props */
export function Badge({ status }) {
  return html`<span class=${'badge badge-' + status.toLowerCase()}>${label(status)}</span>`;
}

/**
 * Previous/next paging with where the page is.
 * @param {{from: number, count: number, total?: number, onPrev?: () => void, onNext?: () => void}} props
 */
export function Pager({ from, count, total, onPrev, onNext }) {
  const range = count ? `${from + 1}–${from + count}` : '0';
  return html`<nav class="pager" aria-label="Pages">
    <button type="button" class="secondary" disabled=${!onPrev} onClick=${onPrev}>← Previous</button>
    <span>${range}${total !== undefined ? ` of ${total}` : ''}</span>
    <button type="button" class="secondary" disabled=${!onNext} onClick=${onNext}>Next →</button>
  </nav>`;
}

/**
 * An action's own state: busy while it runs, its error, a short success message.
 * @returns {{busy: boolean, error: unknown, done: string, run: (fn: () => Promise<string | void>) => Promise<void>}}
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const [done, setDone] = useState('');
  /** @param {() => Promise<string | void>} fn */
  const run = async (fn) => {
    setBusy(true);
    setError(null);
    setDone('');
    try {
      setDone((await fn()) || '');
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, done, run };
}

/** @param {{action: {error: unknown, done: string}}} props */
export function ActionResult({ action }) {
  return html`${action.error ? html`<${ErrorBox} error=${action.error} />` : null}
    ${action.done && html`<p class="success" role="status">${action.done}</p>`}`;
}

/** Reads a form control's value from an input event. @param {Event} e */
export function valueOf(e) {
  const t = e.currentTarget;
  return t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement ? t.value : '';
}

/** @param {Event} e */
export function checkedOf(e) {
  const t = e.currentTarget;
  return t instanceof HTMLInputElement && t.checked;
}

/** Sets the page title for the current screen. @param {string} title */
export function useTitle(title) {
  useEffect(() => { document.title = `${title} · shopd admin`; }, [title]);
}
