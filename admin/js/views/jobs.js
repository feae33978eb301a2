// The outbox: mails, notifications and refunds waiting, done or given up; retry the dead ones.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { dateTime, label } from '../format.js';
import { useRoute } from '../router.js';
import { ActionResult, Badge, Empty, ErrorBox, Loading, Pager, useAction, useAsync, useTitle } from '../ui.js';

/** @typedef {import('../types.js').JobStatus} JobStatus */
/** @typedef {import('../types.js').Job} Job */

/** @type {JobStatus[]} */
const STATUSES = ['DEAD', 'PENDING', 'RUNNING', 'DONE'];
const PAGE = 25;

export function Jobs() {
  useTitle('Outbox jobs');
  const { query } = useRoute();
  const [status, setStatus] = useState(STATUSES.find((s) => s === query.get('status')) ?? 'DEAD');
  const [skip, setSkip] = useState(0);
  const list = useAsync(() => call('get', '/api/v1/admin/jobs', { query: { status, skip, limit: PAGE } }), [status, skip]);
  const act = useAction();
  /** @param {Job} j */
  const retry = (j) => act.run(async () => {
    await call('post', '/api/v1/admin/jobs/{id}/retry', { path: { id: j.id } });
    list.reload();
    return `${label(j.kind)} job queued again.`;
  });
  const data = list.data;
  return html`<section>
    <div class="heading"><h1>Outbox jobs</h1></div>
    <div class="tabs" role="group" aria-label="Status">
      ${STATUSES.map((s) => html`<button type="button" class=${s === status ? '' : 'secondary'} aria-pressed=${s === status}
        onClick=${() => { setStatus(s); setSkip(0); }}>${label(s)}</button>`)}
    </div>
    <${ActionResult} action=${act} />
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.jobs.length ? html`<${Empty}>No ${label(status).toLowerCase()} jobs.<//>`
      : html`<div class="table-wrap"><table class="stack">
          <thead><tr><th scope="col">Kind</th><th scope="col">Status</th><th scope="col" class="num">Tries</th><th scope="col">Last error</th>
            <th scope="col">Next run</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${data.jobs.map((j) => html`<tr>
            <td data-label="Kind">${label(j.kind)}</td><td data-label="Status"><${Badge} status=${j.status} /></td><td class="num" data-label="Tries">${j.attempts}</td>
            <td class="small" data-label="Last error">${j.lastError ?? '—'}</td><td data-label="Next run">${dateTime(j.runAt)}</td><td data-label="Created">${dateTime(j.createdAt)}</td>
            <td data-label="">${j.status === 'DEAD' && html`<button type="button" class="secondary" disabled=${act.busy} onClick=${() => retry(j)}>Retry</button>`}</td>
          </tr>`)}</tbody>
        </table></div>
        <${Pager} from=${skip} count=${data.jobs.length} total=${data.total}
          onPrev=${skip > 0 ? () => setSkip(Math.max(0, skip - PAGE)) : undefined}
          onNext=${skip + PAGE < data.total ? () => setSkip(skip + PAGE) : undefined} />`}
  </section>`;
}
