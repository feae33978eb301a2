// Coupons: every code of the shop, newest first, with what it takes off, its conditions, dates
// and uses; switch one on or off, or delete it.
import { html, useEffect, useRef, useState } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { dateTime, money } from '../format.js';
import { ActionResult, Badge, ErrorBox, Loading, useAction, useAsync, useTitle } from '../ui.js';

/** @typedef {import('../types.js').Coupon} Coupon */

/** What a code takes off: `10 % off`, `$5.00 off`, `Free shipping`. @param {Coupon} c */
export function discountOf(c) {
  if (c.type === 'FREE_SHIPPING') return 'Free shipping';
  if (c.value === null) return '—';
  return c.type === 'PERCENT' ? `${c.value} % off` : `${money(c.value)} off`;
}

/** Where a code stands in its dates: before them, after them, or inside (null).
 * @param {Coupon} c @returns {'SCHEDULED' | 'EXPIRED' | null} */
export function windowOf(c, now = Date.now()) {
  if (c.startsAt && now < Date.parse(c.startsAt)) return 'SCHEDULED';
  if (c.endsAt && now >= Date.parse(c.endsAt)) return 'EXPIRED';
  return null;
}

/** @param {Coupon} c */
export function usedUp(c) {
  return c.usageLimit !== null && c.used >= c.usageLimit;
}

export function Coupons() {
  useTitle('Coupons');
  const list = useAsync(() => call('get', '/api/v1/admin/coupons'), []);
  const act = useAction();
  const [asking, setAsking] = useState(/** @type {number | null} */ (null));
  /** @param {Coupon} c */
  const toggle = (c) => act.run(async () => {
    const after = await call('patch', '/api/v1/admin/coupons/{id}', { path: { id: c.id }, body: { active: !c.active } });
    list.reload();
    return after.active ? `Coupon “${after.code}” activated.` : `Coupon “${after.code}” deactivated: customers cannot use it.`;
  });
  /** @param {Coupon} c */
  const remove = (c) => act.run(async () => {
    await call('delete', '/api/v1/admin/coupons/{id}', { path: { id: c.id } });
    setAsking(null);
    list.reload();
    return `Coupon “${c.code}” deleted.`;
  });
  const data = list.data;
  const none = data !== null && !data.coupons.length;
  return html`<section>
    <div class="heading">
      <h1>Coupons</h1>
      ${!none && html`<div class="actions"><a class="button" href="/admin/coupons/new">New coupon</a></div>`}
    </div>
    <${ActionResult} action=${act} />
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.coupons.length ? html`<div class="card empty-state">
          <p class="empty">No coupons yet. A code can take a percentage or an amount off, or the shipping, for everyone or for some categories and products.</p>
          <a class="button" href="/admin/coupons/new">New coupon</a>
        </div>`
      : html`<div class="table-wrap"><table class="coupons stack">
          <thead><tr><th scope="col">Code</th><th scope="col">Discount</th><th scope="col">Conditions</th><th scope="col">Dates</th>
            <th scope="col" class="num">Used</th><th scope="col" class="num">Per customer</th><th scope="col">Status</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${data.coupons.map((c) => html`<tr>
            <td data-label="Code"><a href=${'/admin/coupons/' + c.id}><code>${c.code}</code></a></td>
            <td data-label="Discount">${discountOf(c)}</td>
            <td data-label="Conditions"><${Conditions} c=${c} /></td>
            <td data-label="Dates"><${Dates} c=${c} /></td>
            <td class="num" data-label="Used"><span>${c.used} / ${c.usageLimit ?? '∞'}${usedUp(c) ? html` <${Badge} status="USED_UP" />` : ''}</span></td>
            <td class="num" data-label="Per customer">${c.perCustomerLimit ?? '∞'}</td>
            <td data-label="Status"><${Badge} status=${c.active ? 'ACTIVE' : 'INACTIVE'} /></td>
            <td data-label="">${asking === c.id
              ? html`<${ConfirmDelete} c=${c} busy=${act.busy} onYes=${() => remove(c)} onNo=${() => setAsking(null)} />`
              : html`<div class="actions">
                <button type="button" class="secondary" disabled=${act.busy} onClick=${() => toggle(c)}>
                  ${c.active ? 'Deactivate' : 'Activate'}<span class="visually-hidden"> ${c.code}</span></button>
                <button type="button" class="danger secondary" disabled=${act.busy} onClick=${() => setAsking(c.id)}>
                  Delete<span class="visually-hidden"> ${c.code}</span>…</button>
              </div>`}</td>
          </tr>`)}</tbody>
        </table></div>
        <p class="small">${data.total} coupon${data.total === 1 ? '' : 's'}.</p>`}
  </section>`;
}

/** Minimum subtotal and what the code is restricted to. @param {{c: Coupon}} props */
function Conditions({ c }) {
  const parts = [];
  if (c.minSubtotal !== null) parts.push(html`Subtotal from ${money(c.minSubtotal)}`);
  if (c.categories.length) parts.push(html`Categories: ${c.categories.join(', ')}`);
  if (c.productIds.length) {
    parts.push(html`Products: ${c.productIds.map((id, i) => html`${i ? ', ' : ''}<a href=${'/admin/products/' + id}>${id}</a>`)}`);
  }
  if (!parts.length) return html`<span class="small">Any order</span>`;
  return html`<span>${parts.map((p, i) => html`${i ? html`<br />` : ''}${p}`)}</span>`;
}

/** @param {{c: Coupon}} props */
function Dates({ c }) {
  const w = windowOf(c);
  if (!c.startsAt && !c.endsAt) return html`<span class="small">No dates</span>`;
  return html`<span>
    ${c.startsAt && html`From ${dateTime(c.startsAt)}`}${c.startsAt && c.endsAt ? html`<br />` : ''}
    ${c.endsAt && html`Until ${dateTime(c.endsAt)}`}
    ${w && html` <${Badge} status=${w} />`}
  </span>`;
}

/**
 * Asks before a delete, in the row; the answer buttons take the focus.
 * @param {{c: Coupon, busy: boolean, onYes: () => void, onNo: () => void}} props
 */
function ConfirmDelete({ c, busy, onYes, onNo }) {
  const keep = useRef(/** @type {HTMLButtonElement | null} */ (null));
  useEffect(() => { keep.current?.focus(); }, []);
  return html`<div class="confirm" role="group" aria-label=${`Delete ${c.code}?`}>
    <p>Delete <code>${c.code}</code>? Orders placed with it keep their discount.</p>
    <div class="actions"><button type="button" class="danger" disabled=${busy} onClick=${onYes}>Yes, delete</button>
      <button type="button" class="secondary" ref=${keep} onClick=${onNo}>Keep it</button></div>
  </div>`;
}
