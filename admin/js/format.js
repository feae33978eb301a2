// How values are shown: money with 2 decimals and its currency, dates in the browser's zone.

/** The shop's currency until something (the shop settings, an order) says otherwise. */
let shopCurrency = 'USD';

/** @param {string | null | undefined} c */
export function setShopCurrency(c) {
  if (c) shopCurrency = c;
}

/** @type {Map<string, Intl.NumberFormat>} */
const moneyFormats = new Map();

/**
 * @param {number} amount
 * @param {string} [currency]
 */
export function money(amount, currency = shopCurrency) {
  let f = moneyFormats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { style: 'currency', currency, minimumFractionDigits: 2, maximumFractionDigits: 2 });
    moneyFormats.set(currency, f);
  }
  return f.format(amount);
}

const dateTimeFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
const dateFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium' });

/** @param {string | null | undefined} iso */
export function dateTime(iso) {
  return iso ? dateTimeFormat.format(new Date(iso)) : '—';
}

const preciseFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });

/** With the seconds, for logs where they matter (a webhook's tries). @param {string | null | undefined} iso */
export function preciseTime(iso) {
  return iso ? preciseFormat.format(new Date(iso)) : '—';
}

/** How long something took: `85 ms`, `1.2 s`. @param {number} ms */
export function duration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/** @param {string | null | undefined} iso */
export function date(iso) {
  return iso ? dateFormat.format(new Date(iso)) : '—';
}

/** `PARTIALLY_REFUNDED` → `Partially refunded` @param {string} code */
export function label(code) {
  const s = code.replace(/_/g, ' ').toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** An order as people name it: `#1001` when it has a number, else the end of its id (the
 * start of a UUID v7 is its time, the same for orders placed together).
 * @param {{id: string, number?: number | null}} o */
export function orderName(o) {
  return typeof o.number === 'number' ? `#${o.number}` : `…${o.id.slice(-8)}`;
}

/** Today's date (YYYY-MM-DD) in a time zone, and the date `days` before it.
 * @param {string} timeZone
 * @param {number} [daysBack] */
export function dayIn(timeZone, daysBack = 0) {
  const d = new Date(Date.now() - daysBack * 86_400_000);
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
}
