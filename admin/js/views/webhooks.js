// Webhooks: the endpoints the shop POSTs its events to (URL, events, on or off), and the
// pieces the endpoint's own screen shares with this list: the events and how a delivery is signed.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { dateTime } from '../format.js';
import { Badge, ErrorBox, Loading, useAsync, useTitle } from '../ui.js';

/** @typedef {import('../types.js').Webhook} Webhook */

/** Every event an endpoint can take, as the API names it and as people say it. */
export const EVENTS = [
  { name: 'order.created', title: 'Order placed' },
  { name: 'order.status_changed', title: 'Order status changed' },
  { name: 'order.cancelled', title: 'Order cancelled' },
  { name: 'payment.succeeded', title: 'Payment succeeded' },
  { name: 'payment.failed', title: 'Payment failed' },
  { name: 'refund.created', title: 'Refund made' },
  { name: 'product.updated', title: 'Product changed' },
  { name: 'stock.low', title: 'Stock running low' },
];

/** The event of the “Send test event” button. */
export const TEST_EVENT = 'webhook.test';

/** @param {string} name @returns {string} */
export function eventTitle(name) {
  if (name === TEST_EVENT) return 'Test event';
  return EVENTS.find((e) => e.name === name)?.title ?? name;
}

/** @param {string[]} events */
export function takesAll(events) {
  return EVENTS.every((e) => events.includes(e.name));
}

/** A message carried to the list from the endpoint's screen (after a delete). */
let flash = '';

/** @param {string} text */
export function flashOnList(text) {
  flash = text;
}

/** The line under a webhook screen's title: how a receiver knows a delivery is the shop's. */
export function Signing() {
  return html`<p class="lede">Every delivery is a JSON POST signed per <a href="https://www.standardwebhooks.com/" rel="noopener noreferrer">Standard Webhooks</a>:
    headers <code>webhook-id</code>, <code>webhook-timestamp</code> and <code>webhook-signature</code> (HMAC-SHA256 with the endpoint's secret).</p>`;
}

/** An endpoint's events as chips; all of them as one. @param {{events: string[]}} props */
export function EventChips({ events }) {
  if (takesAll(events) && events.length === EVENTS.length) {
    return html`<ul class="chips" aria-label="Events"><li class="all" title=${EVENTS.map((e) => e.name).join(', ')}>All events</li></ul>`;
  }
  return html`<ul class="chips" aria-label="Events">${events.map((e) => html`<li title=${eventTitle(e)}>${e}</li>`)}</ul>`;
}

export function Webhooks() {
  useTitle('Webhooks');
  const list = useAsync(() => call('get', '/api/v1/admin/webhooks'), []);
  const [message] = useState(() => {
    const text = flash;
    flash = '';
    return text;
  });
  const data = list.data;
  const none = data !== null && !data.webhooks.length;
  return html`<section>
    <div class="heading">
      <h1>Webhooks</h1>
      ${!none && html`<div class="actions"><a class="button" href="/admin/webhooks/new">New webhook</a></div>`}
    </div>
    <${Signing} />
    ${message && html`<p class="success" role="status">${message}</p>`}
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.webhooks.length ? html`<div class="card empty-state">
          <p class="empty">No webhooks yet. A webhook sends the shop's events (orders placed, payments, refunds, product and stock changes) to a URL of yours as they happen.</p>
          <a class="button" href="/admin/webhooks/new">New webhook</a>
        </div>`
      : html`<div class="table-wrap"><table class="webhooks stack">
          <thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead>
          <tbody>${data.webhooks.map((w) => html`<tr>
            <td data-label="URL"><a href=${'/admin/webhooks/' + w.id}><code>${w.url}</code></a></td>
            <td data-label="Events"><${EventChips} events=${w.events} /></td>
            <td data-label="Status"><${Badge} status=${w.active ? 'ACTIVE' : 'INACTIVE'} /></td>
            <td data-label="Created">${dateTime(w.createdAt)}</td>
          </tr>`)}</tbody>
        </table></div>
        <p class="small">${data.webhooks.length} endpoint${data.webhooks.length === 1 ? '' : 's'}.</p>`}
  </section>`;
}
