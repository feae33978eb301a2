// One product: create or edit it, its images, its stock, and deleting it.
import { html, useEffect, useState } from '../../vendor/htm-preact-standalone.js';
import { ApiError, call, upload } from '../api.js';
import { money } from '../format.js';
import { navigate } from '../router.js';
import { ActionResult, ErrorBox, Field, Loading, checkedOf, messageOf, useAction, useAsync, useTitle, valueOf } from '../ui.js';

/** @typedef {import('../types.js').ProductDetail} ProductDetail */

/** What the form holds: the inputs' text, turned into numbers and lists on save. */
/** @typedef {{title: string, description: string, price: string, discountPercentage: string, stock: string,
 *   brand: string, category: string, sku: string, tags: string, isActive: boolean}} Draft */

/** @type {Draft} */
const BLANK = { title: '', description: '', price: '', discountPercentage: '0', stock: '0', brand: '', category: '', sku: '', tags: '', isActive: true };

/** A message carried to the next screen: after a create, to the editor of the new product. */
let flash = { id: 0, text: '' };

/** @param {ProductDetail} p @returns {Draft} */
function draftOf(p) {
  return {
    title: p.title, description: p.description, price: String(p.price), discountPercentage: String(p.discountPercentage),
    stock: String(p.stock), brand: p.brand, category: p.category, sku: p.sku, tags: p.tags.join(', '), isActive: p.isActive,
  };
}

/** @param {{id: number | null}} props */
export function ProductEditor({ id }) {
  const product = useAsync(() => (id === null ? Promise.resolve(null) : call('get', '/api/v1/admin/products/{id}', { path: { id } })), [id]);
  useTitle(id === null ? 'New product' : product.data?.title ?? 'Product');
  if (product.loading && !product.data) return html`<${Loading} />`;
  if (product.error) return html`<section><h1>Product</h1><${ErrorBox} error=${product.error} onRetry=${product.reload} /></section>`;
  return html`<${Editor} key=${id ?? 'new'} product=${product.data} reload=${product.reload} />`;
}

/** @param {{product: ProductDetail | null, reload: () => void}} props */
function Editor({ product, reload }) {
  const [draft, setDraft] = useState(product ? draftOf(product) : BLANK);
  const [files, setFiles] = useState(/** @type {File[]} */ ([]));
  const [errors, setErrors] = useState(/** @type {Record<string, string[]>} */ ({}));
  const save = useAction();
  const [message] = useState(() => {
    if (!product || flash.id !== product.id) return '';
    const { text } = flash;
    flash = { id: 0, text: '' };
    return text;
  });

  // Previews of the chosen files, released when the choice changes.
  const [previews, setPreviews] = useState(/** @type {string[]} */ ([]));
  useEffect(() => {
    const urls = files.map((f) => URL.createObjectURL(f));
    setPreviews(urls);
    return () => urls.forEach((u) => URL.revokeObjectURL(u));
  }, [files]);

  /** @param {keyof Draft} k @returns {(e: Event) => void} */
  const bind = (k) => (e) => setDraft({ ...draft, [k]: k === 'isActive' ? checkedOf(e) : valueOf(e) });

  /** @param {Event} e */
  const submit = (e) => {
    e.preventDefault();
    save.run(async () => {
      setErrors({});
      /** @type {Record<string, string[]>} */
      const local = {};
      /** @param {'price' | 'discountPercentage' | 'stock'} k */
      const num = (k) => {
        const n = Number(draft[k]);
        if (draft[k].trim() === '' || Number.isNaN(n)) local[k] = ['Enter a number.'];
        return n;
      };
      const body = {
        title: draft.title.trim(), description: draft.description, price: num('price'),
        discountPercentage: num('discountPercentage'), brand: draft.brand.trim(), category: draft.category.trim(),
        sku: draft.sku.trim() || null, isActive: draft.isActive,
        tags: draft.tags.split(',').map((t) => t.trim()).filter(Boolean),
      };
      const stock = product ? 0 : num('stock');
      if (Object.keys(local).length) {
        setErrors(local);
        throw new Error('Some fields need a look.');
      }
      try {
        const saved = product
          ? await call('patch', '/api/v1/products/{id}', { path: { id: product.id }, body })
          : await call('post', '/api/v1/products', { body: { ...body, stock } });
        if (files.length) await uploadImages(saved.id, files);
        setFiles([]);
        if (!product) {
          flash = { id: saved.id, text: `Product “${saved.title}” created.` };
          navigate(`/admin/products/${saved.id}`, true);
          return;
        }
        reload();
        return 'Saved.';
      } catch (err) {
        if (err instanceof ApiError && err.code === 'VALIDATION_ERROR') {
          setErrors(err.details);
          throw new ApiError(err.status, err.code, 'Some fields need a change: see the messages beside them.', err.details, err.requestId);
        }
        throw err;
      }
    });
  };

  const otherErrors = Object.entries(errors).filter(([k]) => !(k in BLANK) && k !== 'images');
  /** @param {keyof Draft} k */
  const errs = (k) => errors[k] ?? [];
  return html`<section>
    <p><a href="/admin/products">← Products</a></p>
    <h1>${product ? product.title : 'New product'}</h1>
    ${message && html`<p class="success" role="status">${message}</p>`}
    <div class="grid editor">
      <form class="card" onSubmit=${submit} novalidate>
        <${Field} id="p-title" label="Title" errors=${errs('title')}>
          <input id="p-title" required maxlength="200" value=${draft.title} onInput=${bind('title')} aria-invalid=${errs('title').length > 0} />
        <//>
        <${Field} id="p-description" label="Description" errors=${errs('description')}>
          <textarea id="p-description" rows="4" maxlength="5000" value=${draft.description} onInput=${bind('description')}></textarea>
        <//>
        <div class="row">
          <${Field} id="p-price" label="Price" errors=${errs('price')}>
            <input id="p-price" inputmode="decimal" required value=${draft.price} onInput=${bind('price')} aria-invalid=${errs('price').length > 0} />
          <//>
          <${Field} id="p-discount" label="Discount %" errors=${errs('discountPercentage')}>
            <input id="p-discount" inputmode="decimal" value=${draft.discountPercentage} onInput=${bind('discountPercentage')} />
          <//>
          ${!product && html`<${Field} id="p-stock" label="Stock" errors=${errs('stock')}>
            <input id="p-stock" inputmode="numeric" value=${draft.stock} onInput=${bind('stock')} />
          <//>`}
        </div>
        <div class="row">
          <${Field} id="p-brand" label="Brand" errors=${errs('brand')}>
            <input id="p-brand" required value=${draft.brand} onInput=${bind('brand')} aria-invalid=${errs('brand').length > 0} />
          <//>
          <${Field} id="p-category" label="Category" errors=${errs('category')}>
            <input id="p-category" required value=${draft.category} onInput=${bind('category')} aria-invalid=${errs('category').length > 0} />
          <//>
        </div>
        <div class="row">
          <${Field} id="p-sku" label="SKU" errors=${errs('sku')} hint=${product ? '' : 'Left empty, the shop makes one.'}>
            <input id="p-sku" value=${draft.sku} onInput=${bind('sku')} />
          <//>
          <${Field} id="p-tags" label="Tags" errors=${errs('tags')} hint="Separated by commas.">
            <input id="p-tags" value=${draft.tags} onInput=${bind('tags')} />
          <//>
        </div>
        <div class="field check">
          <input id="p-active" type="checkbox" checked=${draft.isActive} onChange=${bind('isActive')} />
          <label for="p-active">Active (listed in the shop)</label>
        </div>
        ${product && !draft.isActive && html`<p class="hint">Inactive products are hidden from the shop; they stay under Products → Show: Inactive, where one can be made active again.</p>`}
        <${Field} id="p-images" label=${product ? 'Add images' : 'Images'} errors=${errors.images ?? []} hint="JPEG, PNG or WebP, up to 5 MiB each.">
          <input id="p-images" type="file" multiple accept="image/jpeg,image/png,image/webp"
            onChange=${(/** @type {Event} */ e) => { const t = e.currentTarget; setFiles(t instanceof HTMLInputElement && t.files ? [...t.files] : []); }} />
        <//>
        ${previews.length > 0 && html`<ul class="images" aria-label="Chosen images">${previews.map((u, i) => html`<li>
          <img src=${u} alt=${'Preview of ' + (files[i]?.name ?? 'image')} /></li>`)}</ul>`}
        ${otherErrors.length > 0 && html`<ul class="field-error">${otherErrors.map(([k, m]) => html`<li>${k}: ${m.join(' ')}</li>`)}</ul>`}
        <${ActionResult} action=${save} />
        <div class="actions"><button type="submit" disabled=${save.busy}>${save.busy ? 'Saving…' : product ? 'Save changes' : 'Create product'}</button></div>
      </form>
      ${product && html`<div class="stack">
        <${Images} product=${product} />
        <${Stock} product=${product} onChange=${reload} />
        <section class="card"><h2>Reviews</h2>
          <p>${product.reviews.length ? `${product.rating.toFixed(2)} average from its reviews.` : 'No reviews yet.'}</p>
          <p><a href=${'/admin/reviews?product=' + product.id}>Moderate its reviews →</a></p></section>
        <${Delete} product=${product} />
      </div>`}
    </div>
  </section>`;
}

/** @param {number} id @param {File[]} files */
async function uploadImages(id, files) {
  const form = new FormData();
  for (const f of files) form.append('images', f, f.name);
  try {
    await upload(`/api/v1/products/${id}/images`, form, () => {});
  } catch (err) {
    throw new Error(`The product was saved, but its images were not: ${messageOf(err)}`);
  }
}

/** @param {{product: ProductDetail}} props */
function Images({ product }) {
  return html`<section class="card"><h2>Images</h2>
    ${product.images.length
      ? html`<ul class="images">${product.images.map((src, i) => html`<li><img src=${src} alt=${`${product.title}, image ${i + 1}`} loading="lazy" /></li>`)}</ul>`
      : html`<p class="empty">No images yet.</p>`}
  </section>`;
}

/** @param {{product: ProductDetail, onChange: () => void}} props */
function Stock({ product, onChange }) {
  const [delta, setDelta] = useState('');
  const act = useAction();
  /** @param {Event} e */
  const submit = (e) => {
    e.preventDefault();
    act.run(async () => {
      const quantity = Number(delta);
      if (!Number.isInteger(quantity) || quantity === 0) throw new Error('Enter a whole number to add (or a negative one to remove).');
      const p = await call('patch', '/api/v1/products/{id}/stock', { path: { id: product.id }, body: { quantity } });
      setDelta('');
      onChange();
      return `Stock is now ${p.stock}.`;
    });
  };
  return html`<section class="card"><h2>Stock</h2>
    <p><strong class="big">${product.stock}</strong> in stock · ${money(product.price)} each</p>
    <form class="toolbar" onSubmit=${submit}>
      <label for="stock-delta">Add or remove</label>
      <input id="stock-delta" inputmode="numeric" placeholder="e.g. 10 or -2" value=${delta} onInput=${(/** @type {Event} */ e) => setDelta(valueOf(e))} />
      <button type="submit" disabled=${act.busy}>Adjust</button>
    </form>
    <${ActionResult} action=${act} />
  </section>`;
}

/** @param {{product: ProductDetail}} props */
function Delete({ product }) {
  const [asking, setAsking] = useState(false);
  const act = useAction();
  const confirm = () => act.run(async () => {
    await call('delete', '/api/v1/products/{id}', { path: { id: product.id } });
    navigate('/admin/products', true);
  });
  return html`<section class="card danger"><h2>Delete</h2>
    ${asking
      ? html`<p>Delete “${product.title}”? It leaves the shop and becomes inactive; past orders keep it.</p>
        <div class="actions"><button type="button" class="danger" disabled=${act.busy} onClick=${confirm}>Yes, delete</button>
        <button type="button" class="secondary" onClick=${() => setAsking(false)}>Keep it</button></div>`
      : html`<button type="button" class="danger" onClick=${() => setAsking(true)}>Delete product</button>`}
    <${ActionResult} action=${act} />
  </section>`;
}
