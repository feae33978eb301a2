// The app routes itself under /admin/ (the server answers index.html for every such path).
import { useEffect, useState } from '../vendor/htm-preact-standalone.js';

export const ROOT = '/admin/';

/** @type {Set<() => void>} */
const listeners = new Set();

/** @param {string} href an /admin/ URL */
export function navigate(href, replace = false) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  for (const fn of listeners) fn();
  window.scrollTo(0, 0);
}

window.addEventListener('popstate', () => { for (const fn of listeners) fn(); });

// Plain links inside the app change the route without a page load; modified clicks (new tab)
// downloads and anchors on the page keep the browser's behaviour.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target instanceof Element ? e.target.closest('a') : null;
  if (!a || a.hasAttribute('download') || a.target || !a.pathname.startsWith(ROOT) || a.origin !== location.origin) return;
  if (a.hash && a.pathname === location.pathname) return; // an anchor on this page (the skip link)
  e.preventDefault();
  navigate(a.pathname + a.search);
});

/** The route: path segments after /admin/ and the query. */
export function useRoute() {
  const [, bump] = useState(0);
  useEffect(() => {
    const fn = () => bump((n) => n + 1);
    listeners.add(fn);
    fn(); // a navigation between this render and the subscription is not missed
    return () => { listeners.delete(fn); };
  }, []);
  const parts = location.pathname.slice(ROOT.length).split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(location.search) };
}
