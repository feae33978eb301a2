// One order: its lines, address, payment, history and notes, and what the shop can do with it.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { ApiError, call, download, newIdempotencyKey } from '../api.js';
import { date, dateTime, label, money, orderName } from '../format.js';
import { ActionResult, Badge, ErrorBox, Field, Loading, useAction, useAsync, useTitle, valueOf } from '../ui.js';

/** @typedef {import('../types.js').Order} Order */
/** @typedef {import('../types.js').OrderStatus} OrderStatus */
/** @typedef {import('../types.js').OrderReturn} OrderReturn */

/** The moves an admin may make from each status (the API refuses the others). */
/** @type {Record<OrderStatus, OrderStatus[]>} */
const NEXT = { PENDING: ['PROCESSING'], PROCESSING: ['SHIPPED'], SHIPPED: ['DELIVERED'], DELIVERED: [], CANCELLED: [] };

/** @param {{id: string}} props */
export function OrderDetail({ id }) {
  const order = useAsync(() => call('get', '/api/v1/orders/{id}', { path: { id } }), [id]);
  const o = order.data;
  // The order names its customer by id only (its `user` is filled in admin lists); a guest's
  // order has no account, only the email it was placed with.
  const customer = useAsync(() => (o && o.userId !== null ? call('get', '/api/v1/users/{id}', { path: { id: o.userId } }) : Promise.resolve(null)), [o?.userId]);
  useTitle(o ? `Order ${orderName(o)}` : 'Order');
  if (order.loading && !o) return html`<${Loading} />`;
  if (order.error || !o) return html`<section><p><a href="/admin/orders">← Orders</a></p><h1>Order</h1>
    <${ErrorBox} error=${order.error} onRetry=${order.reload} /></section>`;
  const cur = o.currency;
  return html`<section class="order">
    <p><a href="/admin/orders">← Orders</a></p>
    <div class="heading">
      <h1>Order ${orderName(o)} <${Badge} status=${o.status} /></h1>
      <${Invoice} order=${o} />
    </div>
    <p class="small">${`Placed ${dateTime(o.createdAt)} by `}${o.userId !== null
      ? html`<a href=${'/admin/customers/' + o.userId}>${customer.data
        ? `${customer.data.firstName} ${customer.data.lastName} (${customer.data.email})` : `customer ${o.userId}`}</a>`
      : `a guest${o.email ? ` (${o.email})` : ''}`}${' · id '}<code>${o.id}</code></p>
    ${o.status === 'CANCELLED' && html`<p class="notice">Cancelled ${dateTime(o.cancelledAt)}${o.cancelReason ? `: ${o.cancelReason}` : ''}.</p>`}
    <div class="grid editor">
      <div class="stack">
        <section class="card" aria-labelledby="lines-h"><h2 id="lines-h">Lines</h2>
          <div class="table-wrap"><table>
            <thead><tr><th scope="col">Product</th><th scope="col" class="num">Qty</th><th scope="col" class="num">Price</th><th scope="col" class="num">Total</th></tr></thead>
            <tbody>${o.items.map((i) => html`<tr><td><a href=${'/admin/products/' + i.productId}>${i.product.title}</a></td>
              <td class="num">${i.quantity}</td><td class="num">${money(i.price, cur)}</td><td class="num">${money(i.total, cur)}
                ${i.discount > 0 && html`<br /><span class="small">−${money(i.discount, cur)} coupon</span>`}</td></tr>`)}</tbody>
            <tfoot>
              <tr><th scope="row" colspan="3">Subtotal</th><td class="num">${money(o.subtotal, cur)}</td></tr>
              ${(o.couponCode || o.discount > 0) && html`<tr data-testid="discount"><th scope="row" colspan="3">Discount${o.couponCode
                ? html` (code <code>${o.couponCode}</code>)` : ''}</th><td class="num">−${money(o.discount, cur)}</td></tr>`}
              <tr><th scope="row" colspan="3">Tax</th><td class="num">${money(o.tax, cur)}</td></tr>
              <tr><th scope="row" colspan="3">Shipping</th><td class="num">${money(o.shipping, cur)}</td></tr>
              <tr class="total"><th scope="row" colspan="3">Total</th><td class="num">${money(o.total, cur)}</td></tr>
            </tfoot>
          </table></div>
        </section>
        <${Returns} order=${o} onChange=${order.reload} />
        <section class="card" aria-labelledby="history-h"><h2 id="history-h">History</h2>
          <ol class="timeline">${o.history.map((h) => html`<li><${Badge} status=${h.status} /> <span class="small">${dateTime(h.at)}</span>
            ${h.note && html`<p>${h.note}</p>`}</li>`)}</ol>
        </section>
        <${Notes} order=${o} onChange=${order.reload} />
      </div>
      <div class="stack">
        <${StatusChange} order=${o} onChange=${order.reload} />
        <section class="card" aria-labelledby="ship-h"><h2 id="ship-h">Shipping</h2>
          <address>${o.address.firstName} ${o.address.lastName}<br />${o.address.address}<br />
            ${o.address.zipCode} ${o.address.city}, ${o.address.state}<br />${o.address.country}
            ${o.address.phone && html`<br />${o.address.phone}`}</address>
          <dl class="pairs">
            <div><dt>Carrier</dt><dd data-testid="carrier">${o.carrier ?? '—'}</dd></div>
            <div><dt>Tracking number</dt><dd data-testid="tracking">${o.trackingNumber ?? '—'}</dd></div>
            <div><dt>Estimated delivery</dt><dd>${o.estimatedDelivery ? date(o.estimatedDelivery) : '—'}</dd></div>
            ${o.deliveredAt && html`<div><dt>Delivered</dt><dd>${dateTime(o.deliveredAt)}</dd></div>`}
          </dl>
        </section>
        <${PaymentCard} order=${o} onChange=${order.reload} />
      </div>
    </div>
  </section>`;
}

/** @param {{order: Order}} props */
function Invoice({ order }) {
  const act = useAction();
  return html`<div class="actions">
    <button type="button" class="secondary" disabled=${act.busy}
      onClick=${() => act.run(() => download(`/api/v1/orders/${order.id}/invoice`, `invoice-${order.id}.pdf`))}>
      ${act.busy ? 'Preparing…' : 'Invoice (PDF)'}</button>
    <${ActionResult} action=${act} />
  </div>`;
}

/** @param {{order: Order, onChange: () => void}} props */
function StatusChange({ order, onChange }) {
  const next = NEXT[order.status];
  const [picked, setTo] = useState(next[0] ?? null);
  // After a move the choices change; the pick follows them.
  const to = picked && next.includes(picked) ? picked : next[0] ?? null;
  const [carrier, setCarrier] = useState(order.carrier ?? '');
  const [tracking, setTracking] = useState(order.trackingNumber ?? '');
  const [eta, setEta] = useState(order.estimatedDelivery ?? '');
  const [errors, setErrors] = useState(/** @type {Record<string, string[]>} */ ({}));
  const [cancelling, setCancelling] = useState(false);
  const act = useAction();
  const cancellable = order.status === 'PENDING' || order.status === 'PROCESSING';

  /** @param {OrderStatus} status */
  const change = (status) => act.run(async () => {
    setErrors({});
    const shipping = status === 'SHIPPED'
      ? { carrier: carrier.trim() || null, trackingNumber: tracking.trim() || null, estimatedDelivery: eta || null } : {};
    try {
      await call('patch', '/api/v1/orders/{id}/status', { path: { id: order.id }, body: { status, ...shipping } });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'VALIDATION_ERROR') setErrors(err.details);
      throw err;
    }
    setCancelling(false);
    onChange();
    return status === 'CANCELLED' ? 'Order cancelled; its stock is back and a paid amount is refunded.' : `Marked ${label(status).toLowerCase()}.`;
  });

  if (!next.length && !cancellable) {
    return html`<section class="card"><h2>Status</h2><p>${order.status === 'CANCELLED' ? 'This order is cancelled.' : 'This order is delivered.'}</p>
      <${ActionResult} action=${act} /></section>`;
  }
  return html`<section class="card" aria-labelledby="status-h"><h2 id="status-h">Status</h2>
    ${to && html`<form onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); change(to); }}>
      <${Field} id="s-to" label="Move to">
        <select id="s-to" value=${to} onChange=${(/** @type {Event} */ e) => setTo(next.find((s) => s === valueOf(e)) ?? to)}>
          ${next.map((s) => html`<option value=${s}>${label(s)}</option>`)}
        </select>
      <//>
      ${to === 'SHIPPED' && html`
        <${Field} id="s-carrier" label="Carrier" errors=${errors.carrier}>
          <input id="s-carrier" value=${carrier} placeholder="UPS" onInput=${(/** @type {Event} */ e) => setCarrier(valueOf(e))} />
        <//>
        <${Field} id="s-tracking" label="Tracking number" errors=${errors.trackingNumber}>
          <input id="s-tracking" value=${tracking} onInput=${(/** @type {Event} */ e) => setTracking(valueOf(e))} />
        <//>
        <${Field} id="s-eta" label="Estimated delivery" errors=${errors.estimatedDelivery}>
          <input id="s-eta" type="date" value=${eta} onInput=${(/** @type {Event} */ e) => setEta(valueOf(e))} />
        <//>`}
      <div class="actions"><button type="submit" disabled=${act.busy}>${act.busy ? 'Saving…' : `Mark ${label(to).toLowerCase()}`}</button></div>
    </form>`}
    ${cancellable && html`<div class="cancel">
      ${cancelling
        ? html`<p>Cancel this order? Its stock comes back and a paid amount is refunded.</p>
          <div class="actions"><button type="button" class="danger" disabled=${act.busy} onClick=${() => change('CANCELLED')}>Yes, cancel the order</button>
          <button type="button" class="secondary" onClick=${() => setCancelling(false)}>Keep it</button></div>`
        : html`<button type="button" class="danger secondary" onClick=${() => setCancelling(true)}>Cancel order…</button>`}
    </div>`}
    <${ActionResult} action=${act} />
  </section>`;
}

/** @param {{order: Order, onChange: () => void}} props */
function PaymentCard({ order, onChange }) {
  const p = order.payment;
  const left = p ? Math.round((p.amount - p.refunded) * 100) / 100 : 0;
  const [amount, setAmount] = useState('');
  const act = useAction();
  const refundable = p && (p.status === 'SUCCEEDED' || p.status === 'PARTIALLY_REFUNDED') && left > 0;
  const payable = order.status === 'PENDING' && (!p || p.status !== 'SUCCEEDED');

  /** @param {Event} e */
  const refund = (e) => {
    e.preventDefault();
    if (!p) return;
    act.run(async () => {
      const value = amount.trim() === '' ? null : Number(amount);
      if (value !== null && (Number.isNaN(value) || value <= 0)) throw new Error('Enter an amount above 0, or leave it empty to refund all that is left.');
      const after = await call('post', '/api/v1/payments/{payment_id}/refund', {
        path: { payment_id: p.id }, body: value === null ? {} : { amount: value }, idempotencyKey: newIdempotencyKey(),
      });
      setAmount('');
      onChange();
      return `Refunded. ${money(after.refunded, after.currency)} of ${money(after.amount, after.currency)} refunded in all.`;
    });
  };
  const markPaid = () => act.run(async () => {
    await call('post', '/api/v1/admin/orders/{id}/mark-paid', { path: { id: order.id } });
    onChange();
    return 'Marked paid.';
  });

  return html`<section class="card" aria-labelledby="pay-h"><h2 id="pay-h">Payment</h2>
    ${p ? html`<dl class="pairs">
        <div><dt>Status</dt><dd><${Badge} status=${p.status} /></dd></div>
        <div><dt>Amount</dt><dd>${money(p.amount, p.currency)}</dd></div>
        <div><dt>Refunded</dt><dd data-testid="refunded">${money(p.refunded, p.currency)}</dd></div>
        <div><dt>Provider</dt><dd>${p.provider}${p.method ? ` · ${p.method}` : ''}</dd></div>
        <div><dt>Intent</dt><dd><code class="small">${p.paymentIntentId}</code></dd></div>
      </dl>`
      : html`<p>No payment yet.</p>`}
    ${refundable && html`<form class="toolbar wrap" onSubmit=${refund}>
      <${Field} id="r-amount" label=${`Refund amount (up to ${money(left, p.currency)})`} hint="Empty refunds all that is left.">
        <input id="r-amount" inputmode="decimal" value=${amount} placeholder=${left.toFixed(2)} onInput=${(/** @type {Event} */ e) => setAmount(valueOf(e))} />
      <//>
      <button type="submit" disabled=${act.busy}>${act.busy ? 'Refunding…' : 'Refund'}</button>
    </form>`}
    ${payable && html`<p class="small">Paid by cash or bank transfer? Record it:</p>
      <button type="button" class="secondary" disabled=${act.busy} onClick=${markPaid}>Mark paid</button>`}
    <${ActionResult} action=${act} />
  </section>`;
}

/** @param {{order: Order, onChange: () => void}} props */
function Returns({ order, onChange }) {
  const act = useAction();
  if (!order.returns.length) return null;
  /** @param {number} orderItemId */
  const titleOf = (orderItemId) => order.items.find((i) => i.id === orderItemId)?.product.title ?? `line ${orderItemId}`;
  /** @param {OrderReturn} r @param {'APPROVED' | 'REJECTED'} status */
  const decide = (r, status) => act.run(async () => {
    await call('patch', '/api/v1/orders/{id}/returns/{return_id}', { path: { id: order.id, return_id: r.id }, body: { status } });
    onChange();
    return status === 'APPROVED' ? 'Return approved: its units are back in stock and refunded.' : 'Return rejected.';
  });
  return html`<section class="card" aria-labelledby="returns-h"><h2 id="returns-h">Returns</h2>
    <ul class="rows">${order.returns.map((r) => html`<li class="return">
      <div><${Badge} status=${r.status} /> <span class="small">${dateTime(r.createdAt)}</span>
        <p>“${r.reason}”</p>
        <ul>${r.items.map((i) => html`<li>${i.quantity} × ${titleOf(i.orderItemId)}</li>`)}</ul></div>
      ${r.status === 'REQUESTED' && html`<div class="actions">
        <button type="button" disabled=${act.busy} onClick=${() => decide(r, 'APPROVED')}>Approve return</button>
        <button type="button" class="secondary" disabled=${act.busy} onClick=${() => decide(r, 'REJECTED')}>Reject</button></div>`}
    </li>`)}</ul>
    <${ActionResult} action=${act} />
  </section>`;
}

/** @param {{order: Order, onChange: () => void}} props */
function Notes({ order, onChange }) {
  const [note, setNote] = useState('');
  const act = useAction();
  /** @param {Event} e */
  const submit = (e) => {
    e.preventDefault();
    act.run(async () => {
      if (!note.trim()) throw new Error('Write the note first.');
      await call('post', '/api/v1/orders/{id}/notes', { path: { id: order.id }, body: { note: note.trim() } });
      setNote('');
      onChange();
      return 'Note added.';
    });
  };
  return html`<section class="card" aria-labelledby="notes-h"><h2 id="notes-h">Notes</h2>
    ${order.notes.length ? html`<ul class="rows">${order.notes.map((n) => html`<li><p>${n.note}</p>
      <span class="small">${dateTime(n.createdAt)} · user ${n.authorId}</span></li>`)}</ul>` : html`<p class="empty">No notes.</p>`}
    <form onSubmit=${submit}>
      <${Field} id="n-note" label="Add a note">
        <textarea id="n-note" rows="2" maxlength="1000" value=${note} onInput=${(/** @type {Event} */ e) => setNote(valueOf(e))}></textarea>
      <//>
      <div class="actions"><button type="submit" disabled=${act.busy}>Add note</button></div>
    </form>
    <${ActionResult} action=${act} />
  </section>`;
}
