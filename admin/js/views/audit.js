// The audit log: who did what, newest first, narrowed to one action.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { dateTime } from '../format.js';
import { Empty, ErrorBox, Loading, Pager, useAsync, useTitle, valueOf } from '../ui.js';

const PAGE = 25;
/** Actions the server logs (as of this app's writing); the field takes any other too. */
const ACTIONS = ['LOGIN', 'LOGIN_FAILED', 'LOGOUT', 'ACCOUNT_LOCKED', 'ACCOUNT_DELETED', 'PASSWORD_CHANGE', 'PASSWORD_RESET',
  'PASSWORD_RESET_REQUESTED', 'EMAIL_VERIFIED', 'ROLE_CHANGE', 'ADMIN_CREATED', 'TWO_FACTOR_SETUP', 'TWO_FACTOR_ENABLED',
  'TWO_FACTOR_DISABLED', 'TWO_FACTOR_RESET', 'PRODUCT_CREATE', 'PRODUCT_UPDATE', 'PRODUCT_DELETE', 'PRODUCT_STOCK',
  'PRODUCT_IMAGES', 'PRODUCT_IMPORT', 'REVIEW_DELETE', 'ORDER_CREATE', 'ORDER_STATUS_CHANGE', 'ORDER_CANCEL', 'ORDER_EXPIRED',
  'ORDER_MARKED_PAID', 'PAYMENT_INTENT', 'PAYMENT_STATUS', 'PAYMENT_CANCEL', 'REFUND', 'REFUND_FAILED', 'RETURN_REQUESTED',
  'RETURN_APPROVED', 'RETURN_REJECTED', 'JOB_RETRY', 'COUPON_CREATE', 'COUPON_UPDATE', 'COUPON_DELETE'];

/** @param {unknown} v */
function brief(v) {
  if (v === null || v === undefined) return '';
  const s = JSON.stringify(v);
  return s.length > 140 ? s.slice(0, 140) + '…' : s;
}

export function AuditLog() {
  useTitle('Audit log');
  const [typed, setTyped] = useState('');
  const [action, setAction] = useState('');
  const [cursors, setCursors] = useState(/** @type {(number | undefined)[]} */ ([undefined]));
  const cursor = cursors[cursors.length - 1];
  const list = useAsync(() => call('get', '/api/v1/admin/audit-logs', { query: { action: action || undefined, cursor, limit: PAGE } }), [action, cursor]);
  const data = list.data;
  return html`<section>
    <div class="heading"><h1>Audit log</h1></div>
    <form class="toolbar" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); setCursors([undefined]); setAction(typed.trim().toUpperCase()); }}>
      <label for="a-action">Action</label>
      <input id="a-action" list="a-actions" placeholder="All actions" value=${typed} onInput=${(/** @type {Event} */ e) => setTyped(valueOf(e))} />
      <datalist id="a-actions">${ACTIONS.map((a) => html`<option value=${a} />`)}</datalist>
      <button type="submit">Filter</button>
    </form>
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.logs.length ? html`<${Empty}>${action ? `Nothing logged as ${action}.` : 'The log is empty.'}<//>`
      : html`<div class="table-wrap"><table class="audit stack">
          <thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Entity</th><th scope="col">User</th><th scope="col" class="hide-phone">From</th><th scope="col">Change</th></tr></thead>
          <tbody>${data.logs.map((l) => html`<tr>
            <td data-label="When">${dateTime(l.createdAt)}</td><td data-label="Action"><code>${l.action}</code></td>
            <td data-label="Entity"><span>${l.entity}${l.entityId ? html` <code title=${l.entityId}>${l.entityId.length > 12 ? l.entityId.slice(0, 8) + '…' : l.entityId}</code>` : ''}</span></td>
            <td data-label="User">${l.userId !== null ? html`<a href=${'/admin/customers/' + l.userId}>${l.userId}</a>` : '—'}</td>
            <td class="small hide-phone" data-label="From">${l.ipAddress ?? ''}</td>
            <td class="small mono" data-label="Change">${brief(l.newValue ?? l.metadata)}</td>
          </tr>`)}</tbody>
        </table></div>
        <${Pager} from=${(cursors.length - 1) * PAGE} count=${data.logs.length} total=${data.total}
          onPrev=${cursors.length > 1 ? () => setCursors(cursors.slice(0, -1)) : undefined}
          onNext=${data.nextCursor !== null ? () => setCursors([...cursors, data.nextCursor ?? undefined]) : undefined} />`}
  </section>`;
}
