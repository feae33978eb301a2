// An endpoint's deliveries, newest first (the latest 100): the event, its `webhook-id`, whether
// a try got a 2xx, and every try with its answer and time; a test event and replays.
import { html, useEffect, useRef, useState } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { duration, preciseTime } from '../format.js';
import { ActionResult, Badge, Empty, ErrorBox, Loading, useAction, useAsync } from '../ui.js';
import { eventTitle } from './webhooks.js';

/** @typedef {import('../types.js').Webhook} Webhook */
/** @typedef {import('../types.js').WebhookDelivery} WebhookDelivery */
/** @typedef {import('../types.js').WebhookAttempt} WebhookAttempt */

/** A test or a replay is sent by the outbox within a moment: the list is read again after this. */
const AGAIN_MS = 1200;

/** @param {{webhook: Webhook}} props */
export function Deliveries({ webhook }) {
  const list = useAsync(() => call('get', '/api/v1/admin/webhooks/{id}/deliveries', { path: { id: webhook.id } }), [webhook.id]);
  const act = useAction();
  const [open, setOpen] = useState(/** @type {string[]} */ ([]));
  const timer = useRef(/** @type {number | undefined} */ (undefined));
  useEffect(() => () => window.clearTimeout(timer.current), []);
  /** Now (the new delivery shows at once), and again when its first try has likely been made. */
  const readSoon = () => {
    list.reload();
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(list.reload, AGAIN_MS);
  };
  const test = () => act.run(async () => {
    await call('post', '/api/v1/admin/webhooks/{id}/test', { path: { id: webhook.id } });
    readSoon();
    return 'Test event queued: it is sent within a moment.';
  });
  /** @param {WebhookDelivery} d */
  const replay = (d) => act.run(async () => {
    await call('post', '/api/v1/admin/webhooks/deliveries/{delivery_id}/replay', { path: { delivery_id: d.id } });
    readSoon();
    return 'Delivery queued again, with the same webhook-id and body.';
  });
  /** @param {string} id */
  const toggle = (id) => setOpen(open.includes(id) ? open.filter((x) => x !== id) : [...open, id]);
  const off = webhook.active ? undefined : 'The endpoint is inactive: activate it to send.';
  const data = list.data;
  return html`<section class="card" aria-labelledby="w-deliveries-h">
    <div class="heading">
      <h2 id="w-deliveries-h">Deliveries</h2>
      <div class="actions">
        <button type="button" disabled=${act.busy || !webhook.active} title=${off} onClick=${test}>Send test event</button>
        <button type="button" class="secondary" disabled=${list.loading} onClick=${list.reload}>${list.loading && data ? 'Refreshing…' : 'Refresh'}</button>
      </div>
    </div>
    <p class="small">The latest 100, newest first. A delivery not answered with a 2xx is tried again later, with the same <code>webhook-id</code>; the number of tries unfolds each one.</p>
    ${!webhook.active && html`<p class="notice">This endpoint is inactive: nothing is sent to it, not even a test event or a replay.</p>`}
    <${ActionResult} action=${act} />
    ${list.loading && !data ? html`<${Loading} label="Loading the deliveries…" />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.deliveries.length ? html`<${Empty}>No deliveries yet. ${webhook.active ? 'Send a test event to see one here.' : ''}<//>`
      : html`<div class="table-wrap deliveries-wrap"><table class="deliveries stack">
          <thead><tr><th scope="col">Event</th><th scope="col">webhook-id</th><th scope="col">State</th><th scope="col" class="num">Tries</th>
            <th scope="col">Last status</th><th scope="col">Last try</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${data.deliveries.flatMap((d) => {
            const last = d.attempts.length ? d.attempts[d.attempts.length - 1] : null;
            const shown = open.includes(d.id);
            return [html`<tr key=${d.id} class=${shown ? 'open' : undefined}>
              <td data-label="Event"><code title=${eventTitle(d.event)}>${d.event}</code></td>
              <td data-label="webhook-id"><code>${d.webhookId}</code></td>
              <td data-label="State"><${Badge} status=${d.state} /></td>
              <td class="num" data-label="Tries">
                <button type="button" class="disclose" aria-expanded=${shown} aria-controls=${shown ? 'wd-' + d.id : undefined}
                  aria-label=${`${d.attempts.length} ${d.attempts.length === 1 ? 'try' : 'tries'} of ${d.webhookId}`} onClick=${() => toggle(d.id)}>${d.attempts.length}</button></td>
              <td data-label="Last status"><${Answer} attempt=${last} /></td>
              <td data-label="Last try">${last ? html`<span><span class="when">${preciseTime(last.at)}</span><br /><span class="small">${duration(last.durationMs)}</span></span>`
                : html`<span class="small">Not tried yet</span>`}</td>
              <td data-label=""><button type="button" class="secondary" disabled=${act.busy || !webhook.active} title=${off} onClick=${() => replay(d)}>
                Replay<span class="visually-hidden"> ${d.webhookId}</span></button></td>
            </tr>`, shown ? html`<tr key=${d.id + '-tries'} class="tries-row" id=${'wd-' + d.id}><td colspan="7" data-label=""><${Tries} d=${d} /></td></tr>` : null];
          })}</tbody>
        </table></div>`}
  </section>`;
}

/** A try's answer: its status (2xx green, else red), or “No answer” and why.
 * @param {{attempt: WebhookAttempt | null}} props */
function Answer({ attempt }) {
  if (!attempt) return html`<span class="small">—</span>`;
  if (attempt.status === null) {
    return html`<span><span class="http-bad">No answer</span>${attempt.error ? html`<br /><span class="small">${attempt.error}</span>` : ''}</span>`;
  }
  const ok = attempt.status >= 200 && attempt.status < 300;
  return html`<span class=${ok ? 'http-ok' : 'http-bad'}>${attempt.status}</span>`;
}

/** Every try of a delivery, first to last. @param {{d: WebhookDelivery}} props */
function Tries({ d }) {
  return html`<div class="tries">
    <p class="small">Delivery <code>${d.id}</code>, made ${preciseTime(d.createdAt)}${d.deliveredAt ? `, delivered ${preciseTime(d.deliveredAt)}` : ', not delivered yet'}.</p>
    ${d.attempts.length
      ? html`<ol>${d.attempts.map((a, i) => html`<li>
          <span class="try-n">Try ${i + 1}</span>
          <span>${preciseTime(a.at)}</span>
          <span class="small try-ms">${duration(a.durationMs)}</span>
          <${Answer} attempt=${a} />
        </li>`)}</ol>`
      : html`<p class="small">Not tried yet: the outbox sends it within a moment.</p>`}
  </div>`;
}
