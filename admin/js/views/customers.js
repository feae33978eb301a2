// Customers: every account, searchable by name or email.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { date, label } from '../format.js';
import { Badge, Empty, ErrorBox, Loading, Pager, useAsync, useTitle, valueOf } from '../ui.js';

const PAGE = 20;

export function Customers() {
  useTitle('Customers');
  const [typed, setTyped] = useState('');
  const [search, setSearch] = useState('');
  const [cursors, setCursors] = useState(/** @type {(number | undefined)[]} */ ([undefined]));
  const cursor = cursors[cursors.length - 1];
  const list = useAsync(() => call('get', '/api/v1/users', { query: { search: search || undefined, cursor, limit: PAGE } }), [search, cursor]);
  /** @param {Event} e */
  const submit = (e) => { e.preventDefault(); setCursors([undefined]); setSearch(typed.trim()); };
  const data = list.data;
  return html`<section>
    <div class="heading"><h1>Customers</h1></div>
    <form class="toolbar" role="search" onSubmit=${submit}>
      <label for="c-q" class="visually-hidden">Search customers</label>
      <input id="c-q" type="search" placeholder="Name or email" value=${typed} onInput=${(/** @type {Event} */ e) => setTyped(valueOf(e))} />
      <button type="submit">Search</button>
    </form>
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.users.length ? html`<${Empty}>${search ? `Nobody matches “${search}”.` : 'No accounts yet.'}<//>`
      : html`<div class="table-wrap"><table class="stack">
          <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Account</th><th scope="col">Joined</th></tr></thead>
          <tbody>${data.users.map((u) => html`<tr>
            <td data-label="Name"><a href=${'/admin/customers/' + u.id}>${u.firstName} ${u.lastName}</a></td>
            <td data-label="Email">${u.email}</td>
            <td data-label="Role">${label(u.role)}</td>
            <td data-label="Account"><span><${Badge} status=${u.isActive ? 'ACTIVE' : 'INACTIVE'} />${u.twoFactorEnabled ? html` <span class="small">2FA</span>` : ''}</span></td>
            <td data-label="Joined">${date(u.createdAt)}</td>
          </tr>`)}</tbody>
        </table></div>
        <${Pager} from=${(cursors.length - 1) * PAGE} count=${data.users.length} total=${data.total}
          onPrev=${cursors.length > 1 ? () => setCursors(cursors.slice(0, -1)) : undefined}
          onNext=${data.nextCursor !== null ? () => setCursors([...cursors, data.nextCursor ?? undefined]) : undefined} />`}
  </section>`;
}
