// The dashboard: the shop's numbers at a glance, and what needs the owner's attention.
import { html } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { BarChart } from '../chart.js';
import { dateTime, dayIn, label, money, orderName, setShopCurrency } from '../format.js';
import { Badge, Empty, ErrorBox, Loading, useAsync, useTitle } from '../ui.js';

/** @typedef {import('../types.js').Overview} Overview */
/** @typedef {import('../types.js').SalesReport} SalesReport */

export function Dashboard() {
  useTitle('Dashboard');
  // Each part loads on its own, so one failing (or missing on an older server) leaves the rest.
  const stats = useAsync(async () => {
    const overview = await call('get', '/api/v1/admin/stats/overview');
    const tz = overview.timezone || 'UTC';
    const sales = await call('get', '/api/v1/admin/stats/sales', {
      query: { from: dayIn(tz, 29), to: dayIn(tz), interval: 'day' },
    });
    return { overview, sales };
  }, []);
  const recent = useAsync(async () => {
    const page = await call('get', '/api/v1/orders/all', { query: { limit: 5 } });
    setShopCurrency(page.orders[0]?.currency);
    return page;
  }, []);
  const dead = useAsync(() => call('get', '/api/v1/admin/jobs', { query: { status: 'DEAD', limit: 5 } }), []);

  return html`<section class="dashboard">
    <h1>Dashboard</h1>
    ${stats.loading ? html`<${Loading} label="Loading the figures…" />`
      : stats.error ? html`<${ErrorBox} error=${stats.error} onRetry=${stats.reload} />`
      : stats.data && html`<${Figures} overview=${stats.data.overview} sales=${stats.data.sales} />`}

    <div class="grid two below">
      <section class="card" aria-labelledby="recent-h">
        <h2 id="recent-h">Recent orders</h2>
        ${recent.loading ? html`<${Loading} />` : recent.error ? html`<${ErrorBox} error=${recent.error} onRetry=${recent.reload} />`
          : !recent.data?.orders.length ? html`<${Empty}>No orders yet.<//>`
          : html`<ul class="rows">${recent.data.orders.map((o) => html`<li>
              <a href=${'/admin/orders/' + o.id}>${orderName(o)}</a>
              <span class="small">${o.user?.email ?? o.email ?? ''} · ${dateTime(o.createdAt)}</span>
              <span class="right"><${Badge} status=${o.status} /> ${money(o.total, o.currency)}</span>
            </li>`)}</ul>
            <p><a href="/admin/orders">All orders →</a></p>`}
      </section>
      <section class="card" aria-labelledby="dead-h">
        <h2 id="dead-h">Dead outbox jobs</h2>
        ${dead.loading ? html`<${Loading} />` : dead.error ? html`<${ErrorBox} error=${dead.error} onRetry=${dead.reload} />`
          : !dead.data?.jobs.length ? html`<${Empty}>None: every mail, notification and refund went out.<//>`
          : html`<p><strong>${dead.data.total}</strong> job${dead.data.total === 1 ? '' : 's'} gave up.</p>
            <ul class="rows">${dead.data.jobs.map((j) => html`<li><span>${label(j.kind)}</span>
              <span class="small">${j.lastError ?? ''}</span></li>`)}</ul>
            <p><a href="/admin/jobs?status=DEAD">Review and retry →</a></p>`}
      </section>
    </div>
    ${stats.data && html`<${Rankings} overview=${stats.data.overview} />`}
  </section>`;
}

/** @param {{overview: Overview, sales: SalesReport}} props */
function Figures({ overview, sales }) {
  const windows = /** @type {const} */ ([['Today', overview.today], ['Last 7 days', overview.last7Days], ['Last 30 days', overview.last30Days]]);
  return html`
    <div class="grid three">
      ${windows.map(([name, w]) => html`<section class="card stat" aria-label=${name}>
        <h2>${name}</h2>
        <dl>
          <div><dt>Revenue</dt><dd class="big">${money(w.revenue)}</dd></div>
          <div><dt>Orders</dt><dd>${w.orders}</dd></div>
          <div><dt>Average order</dt><dd>${money(w.averageOrderValue)}</dd></div>
          <div><dt>Refunds</dt><dd>${money(w.refunds)}</dd></div>
        </dl>
      </section>`)}
    </div>
    <section class="card" aria-labelledby="chart-h">
      <h2 id="chart-h">Revenue per day, last 30 days</h2>
      <${BarChart} title="Revenue" format=${(/** @type {number} */ n) => money(n)}
        points=${sales.series.map((p) => ({ period: p.period, value: p.revenue }))} />
      <p class="small">Days in ${sales.timezone}. ${overview.newCustomers} new customer${overview.newCustomers === 1 ? '' : 's'} in 30 days.</p>
    </section>`;
}

/** What sells, what runs out, and where the orders stand. @param {{overview: Overview}} props */
function Rankings({ overview }) {
  return html`
    <div class="grid three below">
      <section class="card" aria-labelledby="status-h">
        <h2 id="status-h">Orders by status</h2>
        ${overview.ordersByStatus.length ? html`<ul class="rows">${overview.ordersByStatus.map((s) => html`<li>
          <a href=${'/admin/orders?status=' + s.status}><${Badge} status=${s.status} /></a><span class="right">${s.count}</span></li>`)}</ul>`
          : html`<${Empty}>No orders yet.<//>`}
      </section>
      <section class="card" aria-labelledby="best-h">
        <h2 id="best-h">Best sellers (30 days)</h2>
        ${overview.bestSellers.length ? html`<ol class="rows">${overview.bestSellers.map((b) => html`<li>
          <a href=${'/admin/products/' + b.productId}>${b.title}</a>
          <span class="right small">${b.units} sold · ${money(b.revenue)}</span></li>`)}</ol>`
          : html`<${Empty}>Nothing sold in 30 days.<//>`}
      </section>
      <section class="card" aria-labelledby="low-h">
        <h2 id="low-h">Low stock (under ${overview.lowStockThreshold})</h2>
        ${overview.lowStock.length ? html`<ul class="rows">${overview.lowStock.map((p) => html`<li>
          <a href=${'/admin/products/' + p.productId}>${p.title}</a><span class="right">${p.stock} left</span></li>`)}</ul>`
          : html`<${Empty}>Every product is well stocked.<//>`}
      </section>
    </div>`;
}
