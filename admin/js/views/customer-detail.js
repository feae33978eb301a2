// One account: who they are, their orders and what they spent; activate, deactivate, role.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { date, dateTime, label, money, orderName } from '../format.js';
import { ActionResult, Badge, Empty, ErrorBox, Field, Loading, useAction, useAsync, useTitle, valueOf } from '../ui.js';

/** @typedef {import('../types.js').User} User */
/** @typedef {import('../types.js').Order} Order */
/** @typedef {import('../types.js').Role} Role */

/** The newest orders shown (and summed) here; the orders screen pages through all of them. */
const SHOWN = 100;

/** @param {number} userId */
async function ordersOf(userId) {
  const page = await call('get', '/api/v1/orders/all', { query: { userId, limit: SHOWN } });
  return { orders: page.orders, total: page.total };
}

/** @param {{id: number}} props */
export function CustomerDetail({ id }) {
  const user = useAsync(() => call('get', '/api/v1/users/{id}', { path: { id } }), [id]);
  const orders = useAsync(() => ordersOf(id), [id]);
  const u = user.data;
  useTitle(u ? `${u.firstName} ${u.lastName}` : 'Customer');
  if (user.loading && !u) return html`<${Loading} />`;
  if (user.error || !u) return html`<section><p><a href="/admin/customers">← Customers</a></p><h1>Customer</h1><${ErrorBox} error=${user.error} onRetry=${user.reload} /></section>`;
  return html`<section>
    <p><a href="/admin/customers">← Customers</a></p>
    <h1>${u.firstName} ${u.lastName} <${Badge} status=${u.isActive ? 'ACTIVE' : 'INACTIVE'} /></h1>
    <div class="grid editor">
      <div class="stack">
        <section class="card" aria-labelledby="orders-h"><h2 id="orders-h">Orders</h2>
          ${orders.loading ? html`<${Loading} />` : orders.error ? html`<${ErrorBox} error=${orders.error} onRetry=${orders.reload} />`
            : orders.data && html`<${OrderList} found=${orders.data} userId=${id} />`}
        </section>
      </div>
      <div class="stack">
        <section class="card"><h2>Account</h2>
          <dl class="pairs">
            <div><dt>Email</dt><dd>${u.email}${u.emailVerified ? '' : ' (not verified)'}</dd></div>
            <div><dt>Phone</dt><dd>${u.phone ?? '—'}</dd></div>
            <div><dt>Role</dt><dd>${label(u.role)}</dd></div>
            <div><dt>Two-factor sign-in</dt><dd>${u.twoFactorEnabled ? 'On' : 'Off'}</dd></div>
            <div><dt>Joined</dt><dd>${date(u.createdAt)}</dd></div>
          </dl>
        </section>
        <${Access} user=${u} onChange=${user.reload} />
      </div>
    </div>
  </section>`;
}

/** @param {{found: {orders: Order[], total: number}, userId: number}} props */
function OrderList({ found, userId }) {
  const { orders, total } = found;
  const delivered = orders.filter((o) => o.status === 'DELIVERED');
  const spent = delivered.reduce((s, o) => s + o.total, 0);
  const currency = orders[0]?.currency;
  return html`
    <dl class="pairs stats">
      <div><dt>Orders</dt><dd class="big">${total}</dd></div>
      <div><dt>Spent (delivered)</dt><dd class="big">${money(spent, currency)}</dd></div>
      <div><dt>Last order</dt><dd>${orders[0] ? dateTime(orders[0].createdAt) : '—'}</dd></div>
    </dl>
    ${total > orders.length && html`<p class="small">${`Spent is summed over the latest ${orders.length}. `}<a href=${'/admin/orders?customer=' + userId}>All ${total} orders →</a></p>`}
    ${orders.length ? html`<div class="table-wrap"><table>
      <thead><tr><th scope="col">Order</th><th scope="col">Placed</th><th scope="col">Status</th><th scope="col" class="num">Total</th></tr></thead>
      <tbody>${orders.map((o) => html`<tr><td><a href=${'/admin/orders/' + o.id}>${orderName(o)}</a></td><td>${dateTime(o.createdAt)}</td>
        <td><${Badge} status=${o.status} /></td><td class="num">${money(o.total, o.currency)}</td></tr>`)}</tbody>
    </table></div>` : html`<${Empty}>No orders.<//>`}`;
}

/** @param {{user: User, onChange: () => void}} props */
function Access({ user, onChange }) {
  const [role, setRole] = useState(user.role);
  const act = useAction();
  /** @param {{role?: Role, isActive?: boolean}} patch @param {string} done */
  const save = (patch, done) => act.run(async () => {
    await call('patch', '/api/v1/users/{id}', { path: { id: user.id }, body: patch });
    onChange();
    return done;
  });
  return html`<section class="card" aria-labelledby="access-h"><h2 id="access-h">Access</h2>
    <form class="toolbar wrap" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); save({ role }, `Role is now ${label(role)}. Their sessions were ended.`); }}>
      <${Field} id="u-role" label="Role">
        <select id="u-role" value=${role} onChange=${(/** @type {Event} */ e) => setRole(valueOf(e) === 'ADMIN' ? 'ADMIN' : 'USER')}>
          <option value="USER">User (customer)</option><option value="ADMIN">Admin</option>
        </select>
      <//>
      <button type="submit" class="secondary" disabled=${act.busy || role === user.role}>Change role</button>
    </form>
    ${user.isActive
      ? html`<p class="small">Deactivating signs them out everywhere and stops sign-in.</p>
        <button type="button" class="danger" disabled=${act.busy} onClick=${() => save({ isActive: false }, 'Account deactivated.')}>Deactivate account</button>`
      : html`<button type="button" disabled=${act.busy} onClick=${() => save({ isActive: true }, 'Account activated.')}>Activate account</button>`}
    <${ActionResult} action=${act} />
  </section>`;
}
