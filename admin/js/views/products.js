// Products: a searchable, sortable, paged table; CSV export and import.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { call, download } from '../api.js';
import { money } from '../format.js';
import { ActionResult, Empty, ErrorBox, Loading, Pager, checkedOf, useAction, useAsync, useTitle, valueOf } from '../ui.js';
import { ImportPanel } from './product-import.js';

/** @typedef {import('../types.js').SortField} SortField */

const PAGE = 20;
/** The sortable columns; `phone` ones stay at phone width. */
/** @type {{field: SortField, title: string, phone: boolean}[]} */
const COLUMNS = [
  { field: 'title', title: 'Title', phone: true },
  { field: 'price', title: 'Price', phone: true },
  { field: 'stock', title: 'Stock', phone: true },
  { field: 'rating', title: 'Rating', phone: false },
  { field: 'createdAt', title: 'Added', phone: false },
];

export function Products() {
  useTitle('Products');
  const [typed, setTyped] = useState('');
  const [q, setQ] = useState('');
  const [sort, setSort] = useState(/** @type {{by: SortField, order: 'asc' | 'desc'} | null} */ (null));
  const [category, setCategory] = useState('');
  const [inStock, setInStock] = useState(false);
  const [state, setState] = useState(/** @type {'ALL' | 'ACTIVE' | 'INACTIVE'} */ ('ALL'));
  const [skip, setSkip] = useState(0);
  const categories = useAsync(() => call('get', '/api/v1/products/categories'), []);
  const [importing, setImporting] = useState(false);
  const exporting = useAction();
  // The admin list: inactive products (drafts, deleted ones) too, so they can be opened again.
  const list = useAsync(() => call('get', '/api/v1/admin/products', {
    query: { search: q || undefined, category: category || undefined, inStock: inStock || undefined, state, skip, limit: PAGE, sortBy: sort?.by, order: sort?.order },
  }), [q, category, inStock, state, sort, skip]);

  /** @param {Event} e */
  const search = (e) => { e.preventDefault(); setSkip(0); setQ(typed.trim()); };
  /** @param {SortField} by */
  const sortBy = (by) => {
    setSkip(0);
    setSort(sort?.by === by ? { by, order: sort.order === 'asc' ? 'desc' : 'asc' } : { by, order: by === 'title' ? 'asc' : 'desc' });
  };
  const data = list.data;
  return html`<section>
    <div class="heading">
      <h1>Products</h1>
      <div class="actions">
        <a class="button" href="/admin/products/new">New product</a>
        <button type="button" class="secondary" aria-expanded=${importing} onClick=${() => setImporting(!importing)}>Import CSV</button>
        <button type="button" class="secondary" disabled=${exporting.busy}
          onClick=${() => exporting.run(async () => { await download('/api/v1/admin/products/export', 'products.csv'); return 'Export downloaded.'; })}>
          ${exporting.busy ? 'Exporting…' : 'Export CSV'}</button>
      </div>
    </div>
    <${ActionResult} action=${exporting} />
    ${importing && html`<${ImportPanel} onDone=${list.reload} />`}
    <form class="toolbar" role="search" onSubmit=${search}>
      <label for="product-q" class="visually-hidden">Search products</label>
      <input id="product-q" type="search" placeholder="Search title, brand, category, SKU…" value=${typed}
        onInput=${(/** @type {Event} */ e) => setTyped(valueOf(e))} />
      <button type="submit">Search</button>
    </form>
    <div class="toolbar wrap">
      <div class="field inline">
        <label for="product-category">Category</label>
        <select id="product-category" value=${category} onChange=${(/** @type {Event} */ e) => { setSkip(0); setCategory(valueOf(e)); }}>
          <option value="">All</option>
          ${(categories.data ?? []).map((c) => html`<option value=${c}>${c}</option>`)}
        </select>
      </div>
      <div class="field inline">
        <label for="product-state">Show</label>
        <select id="product-state" value=${state} onChange=${(/** @type {Event} */ e) => { setSkip(0); const v = valueOf(e); setState(v === 'ACTIVE' || v === 'INACTIVE' ? v : 'ALL'); }}>
          <option value="ALL">All products</option>
          <option value="ACTIVE">Active</option>
          <option value="INACTIVE">Inactive</option>
        </select>
      </div>
      <div class="field inline check">
        <input id="product-instock" type="checkbox" checked=${inStock} onChange=${(/** @type {Event} */ e) => { setSkip(0); setInStock(checkedOf(e)); }} />
        <label for="product-instock">In stock only</label>
      </div>
    </div>
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.products.length ? html`<${Empty}>${q ? `No product matches “${q}”.` : 'No products yet.'}<//>`
      : html`<div class="table-wrap"><table>
          <thead><tr>
            <th scope="col"><span class="visually-hidden">Image</span></th>
            ${COLUMNS.map((c) => html`<th scope="col" class=${c.phone ? '' : 'hide-phone'} aria-sort=${sort?.by === c.field ? (sort.order === 'asc' ? 'ascending' : 'descending') : undefined}>
              <button type="button" class="sort" onClick=${() => sortBy(c.field)}>${c.title}${sort?.by === c.field ? (sort.order === 'asc' ? ' ▲' : ' ▼') : ''}</button></th>`)}
            <th scope="col" class="hide-phone">Category</th>
          </tr></thead>
          <tbody>${data.products.map((p) => html`<tr>
            <td class="thumb">${p.thumbnail ? html`<img src=${p.thumbnail} alt="" width="40" height="40" loading="lazy" />` : null}</td>
            <td><a href=${'/admin/products/' + p.id}>${p.title}</a>${p.isActive ? '' : html` <span class="badge">Inactive</span>`}<br /><span class="small">${p.sku}</span></td>
            <td class="num">${p.price !== undefined ? money(p.price) : ''}</td>
            <td class=${'num' + ((p.stock ?? 0) < 5 ? ' low' : '')}>${p.stock}</td>
            <td class="num hide-phone">${p.rating?.toFixed(1)}</td>
            <td class="hide-phone">${p.createdAt?.slice(0, 10)}</td>
            <td class="hide-phone">${p.category}</td>
          </tr>`)}</tbody>
        </table></div>
        <${Pager} from=${skip} count=${data.products.length} total=${data.total}
          onPrev=${skip > 0 ? () => setSkip(Math.max(0, skip - PAGE)) : undefined}
          onNext=${skip + PAGE < data.total ? () => setSkip(skip + PAGE) : undefined} />`}
  </section>`;
}
