// Reviews moderation: the newest reviews of the whole shop, or one product's, each with a way
// to remove it.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { call } from '../api.js';
import { dateTime } from '../format.js';
import { navigate } from '../router.js';
import { ActionResult, Empty, ErrorBox, Loading, Pager, useAction, useAsync, useTitle, valueOf } from '../ui.js';

/** @typedef {import('../types.js').Review} Review */
/** @typedef {import('../types.js').AdminReview} AdminReview */

const PAGE = 20;

/** @param {{productId: number | null}} props */
export function Reviews({ productId }) {
  useTitle('Reviews');
  return html`<section>
    <div class="heading"><h1>Reviews</h1></div>
    <${ProductPicker} />
    ${productId !== null ? html`<${ProductReviews} key=${productId} productId=${productId} />` : html`<${LatestReviews} />`}
  </section>`;
}

function ProductPicker() {
  const [typed, setTyped] = useState('');
  const [q, setQ] = useState('');
  const found = useAsync(() => (q ? call('get', '/api/v1/products/search', { query: { q, limit: 8, select: 'title,rating' } }) : Promise.resolve(null)), [q]);
  return html`<div class="card">
    <form class="toolbar" role="search" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); setQ(typed.trim()); }}>
      <label for="rv-q" class="visually-hidden">Find a product</label>
      <input id="rv-q" type="search" placeholder="Find a product" value=${typed} onInput=${(/** @type {Event} */ e) => setTyped(valueOf(e))} />
      <button type="submit">Find</button>
    </form>
    ${found.loading ? (q ? html`<${Loading} />` : null) : found.error ? html`<${ErrorBox} error=${found.error} />`
      : found.data && (found.data.products.length
        ? html`<ul class="rows">${found.data.products.map((p) => html`<li>
            <a href=${'/admin/reviews?product=' + p.id} onClick=${(/** @type {Event} */ e) => { e.preventDefault(); navigate('/admin/reviews?product=' + p.id); }}>${p.title}</a>
            <span class="right small">rated ${p.rating?.toFixed(2)}</span></li>`)}</ul>`
        : html`<${Empty}>No product matches “${q}”.<//>`)}
  </div>`;
}

/**
 * One review with its remove button.
 * @param {{r: Review, product?: {id: number, title: string}, busy: boolean, onRemove: (r: Review) => void}} props
 */
function ReviewItem({ r, product, busy, onRemove }) {
  return html`<li>
    <div><strong aria-label=${r.rating + ' out of 5'}>${'★'.repeat(r.rating)}${'☆'.repeat(5 - r.rating)}</strong>
      <span class="small"> ${r.reviewerName}${r.reviewerEmail ? ` <${r.reviewerEmail}>` : ''} · ${dateTime(r.date)}</span>
      ${product && html`<span class="small"> · on <a href=${'/admin/reviews?product=' + product.id}
        onClick=${(/** @type {Event} */ e) => { e.preventDefault(); navigate('/admin/reviews?product=' + product.id); }}>${product.title}</a></span>`}
      <p>${r.comment || html`<span class="small">(no comment)</span>`}</p></div>
    <button type="button" class="danger secondary" disabled=${busy} onClick=${() => onRemove(r)}>Remove</button>
  </li>`;
}

/** @param {ReturnType<typeof useAction>} act @param {() => void} reload */
const remover = (act, reload) => (/** @type {Review} */ r) => act.run(async () => {
  const p = await call('delete', '/api/v1/admin/reviews/{id}', { path: { id: r.id } });
  reload();
  return `Review by ${r.reviewerName} removed. The product is now rated ${p.rating.toFixed(2)}.`;
});

/** The shop's newest reviews, every product's. */
function LatestReviews() {
  const [skip, setSkip] = useState(0);
  const list = useAsync(() => call('get', '/api/v1/admin/reviews', { query: { skip, limit: PAGE } }), [skip]);
  const act = useAction();
  const remove = remover(act, list.reload);
  const data = list.data;
  return html`<section class="card" aria-labelledby="rv-latest">
    <h2 id="rv-latest">Newest reviews</h2>
    <${ActionResult} action=${act} />
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.reviews.length ? html`<${Empty}>No reviews yet.<//>`
      : html`<ul class="rows reviews">${data.reviews.map((r) => html`<${ReviewItem} r=${r}
          product=${{ id: r.productId, title: r.productTitle }} busy=${act.busy} onRemove=${remove} />`)}</ul>
        <${Pager} from=${skip} count=${data.reviews.length} total=${data.total}
          onPrev=${skip > 0 ? () => setSkip(Math.max(0, skip - PAGE)) : undefined}
          onNext=${skip + PAGE < data.total ? () => setSkip(skip + PAGE) : undefined} />`}
  </section>`;
}

/** @param {{productId: number}} props */
function ProductReviews({ productId }) {
  const [skip, setSkip] = useState(0);
  const product = useAsync(() => call('get', '/api/v1/admin/products/{id}', { path: { id: productId } }), [productId]);
  const list = useAsync(() => call('get', '/api/v1/products/{id}/reviews', { path: { id: productId }, query: { skip, limit: PAGE } }), [productId, skip]);
  const act = useAction();
  const remove = remover(act, list.reload);
  const data = list.data;
  return html`<section class="card" aria-labelledby="rv-h">
    <h2 id="rv-h">${product.data ? html`Reviews of <a href=${'/admin/products/' + productId}>${product.data.title}</a>` : 'Reviews'}</h2>
    <${ActionResult} action=${act} />
    ${list.loading && !data ? html`<${Loading} />` : list.error ? html`<${ErrorBox} error=${list.error} onRetry=${list.reload} />`
      : !data?.reviews.length ? html`<${Empty}>No reviews for this product.<//>`
      : html`<ul class="rows reviews">${data.reviews.map((r) => html`<${ReviewItem} r=${r} busy=${act.busy} onRemove=${remove} />`)}</ul>
        <${Pager} from=${skip} count=${data.reviews.length} total=${data.total}
          onPrev=${skip > 0 ? () => setSkip(Math.max(0, skip - PAGE)) : undefined}
          onNext=${skip + PAGE < data.total ? () => setSkip(skip + PAGE) : undefined} />`}
  </section>`;
}
