// Orders: every customer's, newest first, filtered by status, dates, customer or a search;
// the same filters export as CSV.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { call, download } from '../api.js';
import { dateTime, label, money, orderName, setShopCurrency } from '../format.js';
import { useRoute } from '../router.js';
import { ActionResult, Badge, Empty, ErrorBox, Field, Loading, Pager, useAction, useAsync, useTitle, valueOf } from '../ui.js';

/** @typedef {import('../types.js').OrderStatus} OrderStatus */

/** @type {OrderStatus[]} */
const STATUSES = ['PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'CANCELLED'];
const PAGE = 20;

/** @param {string} s @returns {OrderStatus | undefined} */
function statusOf(s) {
  return STATUSES.find((x) => x === s);
}

/** What narrows the list: applied when the filter form is sent (or a select changes). */
/** @typedef {{status?: OrderStatus, from: string, to: string, q: string, userId?: number}} Filters */

export function Orders() {
  useTitle('Orders');
  const { query } = useRoute();
  const customer = Number(query.get('customer')) || undefined;
  /** @type {Filters} */
  const initial = { status: statusOf(query.get('status') ?? ''), from: '', to: '', q: '', userId: customer };
  const [draft, setDraft] = useState(initial);
  const [filters, setFilters] = useState(initial);
  // The admin list pages by cursor: keep the cursors of the pages behind for "Previous".
  const [cursors, setCursors] = useState(/** @type {(string | undefined)[]} */ ([undefined]));
  const cursor = cursors[cursors.length - 1];
  const list = useAsync(async () => {
    const page = await call('get', '/api/v1/orders/all', {
      query: {
        status: filters.status, from: filters.from || undefined, to: filters.to || undefined,
        q: filters.q || undefined, userId: filters.userId, cursor, limit: PAGE,
      },
    });
    setShopCurrency(page.orders[0]?.currency);
    return page;
  }, [filters, cursor]);
  const exporting = useAction();

  /** @param {Filters} f */
  const apply = (f) => { setFilters(f); setCursors([undefined]); };
  /** @param {Event} e */
  const submit = (e) => { e.preventDefault(); apply({ ...draft, q: draft.q.trim() }); };
  /** @param {'from' | 'to' | 'q'} k @returns {(e: Event) => void} */
  const bind = (k) => (e) => setDraft({ ...draft, [k]: valueOf(e) });
  const exportCsv = () => exporting.run(async () => {
    const q = new URLSearchParams();
    if (filters.status) q.set('status', filters.status);
    if (filters.from) q.set('from', filters.from);
    if (filters.to) q.set('to', filters.to);
    await download('/api/v1/admin/orders/export' + (q.size ? '?' + q : ''), 'orders.csv');
    return 'Export downloaded.';
  });
  const filtered = Boolean(filters.status || filters.from || filters.to || filters.q || filters.userId);
  const data = list.data;
  return html`<section>
    <div class="heading">
      <h1>Orders</h1>
      <div class="actions">
        <button type="button" class="secondary" disabled=${exporting.busy} onClick=${exportCsv}
          title="The export takes the status and the dates">${exporting.busy ? 'Exporting…' : 'Export CSV'}</button>
      </div>
    </div>
    <${ActionResult} action=${exporting} />
    <form class="card filters" onSubmit=${submit} aria-label="Filter orders">
      <div class="row">
        <${Field} id="o-status" label="Status">
          <select id="o-status" value=${draft.status ?? ''}
            onChange=${(/** @type {Event} */ e) => { const f = { ...draft, status: statusOf(valueOf(e)) }; setDraft(f); apply(f); }}>
            <option value="">All</option>
            ${STATUSES.map((s) => html`<option value=${s}>${label(s)}</option>`)}
          </select>
        <//>
        <${Field} id="o-from" label="Placed from"><input id="o-from" type="date" value=${draft.from} onInput=${bind('from')} /><//>
        <${Field} id="o-to" label="to (inclusive)"><input id="o-to" type="date" value=${draft.to} onInput=${bind('to')} /><//>
        <${Field} id="o-q" label="Order id or customer email">
          <input id="o-q" type="search" value=${draft.q} onInput=${bind('q')} />
        <//>
      </div>
      <div class="actions">
        <button type="submit">Filter</button>
        ${filtered && html`<button type="button" class="secondary"
          onClick=${() => { const f = { from: '', to: '', q: '' }; setDraft(f); apply(f); }}>Clear filters</button>`}
        ${filters.userId && html`<span class="small">Orders of customer ${filters.userId} only.</span>`}
      </div>
    </form>
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.orders.length ? html`<${Empty}>${filtered ? 'No order matches these filters.' : 'No orders yet.'}<//>`
      : html`<div class="table-wrap"><table class="orders stack">
          <thead><tr><th scope="col">Order</th><th scope="col">Placed</th><th scope="col">Customer</th>
            <th scope="col">Status</th><th scope="col">Payment</th><th scope="col" class="num">Total</th></tr></thead>
          <tbody>${data.orders.map((o) => html`<tr>
            <td data-label="Order"><a href=${'/admin/orders/' + o.id}>${orderName(o)}</a></td>
            <td data-label="Placed">${dateTime(o.createdAt)}</td>
            <td data-label="Customer">${o.user ? html`<span><a href=${'/admin/customers/' + o.user.id}>${o.user.firstName} ${o.user.lastName}</a><br /><span class="small">${o.user.email}</span></span>`
              : o.userId !== null ? `User ${o.userId}` : html`<span>Guest${o.email ? html`<br /><span class="small">${o.email}</span>` : ''}</span>`}</td>
            <td data-label="Status"><${Badge} status=${o.status} /></td>
            <td data-label="Payment">${o.payment ? html`<${Badge} status=${o.payment.status} />` : html`<span class="small">None</span>`}</td>
            <td class="num" data-label="Total">${money(o.total, o.currency)}</td>
          </tr>`)}</tbody>
        </table></div>
        <${Pager} from=${(cursors.length - 1) * PAGE} count=${data.orders.length} total=${data.total}
          onPrev=${cursors.length > 1 ? () => setCursors(cursors.slice(0, -1)) : undefined}
          onNext=${data.nextCursor ? () => setCursors([...cursors, data.nextCursor ?? undefined]) : undefined} />`}
  </section>`;
}
