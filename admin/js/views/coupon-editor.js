// One coupon: create or edit its code, discount, conditions, dates and limits; delete it.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { ApiError, call } from '../api.js';
import { dateTime } from '../format.js';
import { navigate } from '../router.js';
import { ActionResult, Badge, ErrorBox, Field, Loading, checkedOf, useAction, useAsync, useTitle, valueOf } from '../ui.js';
import { discountOf, usedUp, windowOf } from './coupons.js';

/** @typedef {import('../types.js').Coupon} Coupon */
/** @typedef {import('../types.js').CouponType} CouponType */
/** @typedef {import('../types.js').CouponInput} CouponInput */
/** @typedef {import('../types.js').CouponPatch} CouponPatch */

/** What the form holds: the inputs' text, turned into numbers, lists and times on save. */
/** @typedef {{code: string, type: CouponType, value: string, minSubtotal: string, startsAt: string, endsAt: string,
 *   usageLimit: string, perCustomerLimit: string, categories: string[], productIds: string, active: boolean}} Draft */

/** @type {Draft} */
const BLANK = {
  code: '', type: 'PERCENT', value: '', minSubtotal: '', startsAt: '', endsAt: '',
  usageLimit: '', perCustomerLimit: '', categories: [], productIds: '', active: true,
};

/** @type {{value: CouponType, title: string}[]} */
const TYPES = [
  { value: 'PERCENT', title: 'Percentage off' },
  { value: 'FIXED', title: 'Amount off' },
  { value: 'FREE_SHIPPING', title: 'Free shipping' },
];

/** The browser's time zone: the one `datetime-local` inputs are in. */
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A message carried to the next screen: after a create, to the editor of the new coupon. */
let flash = { id: 0, text: '' };

/** An RFC 3339 time as a `datetime-local` value, in the browser's zone (seconds when it has some).
 * @param {string | null} iso */
function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  /** @param {number} n */
  const two = (n) => String(n).padStart(2, '0');
  const s = d.getSeconds() ? `:${two(d.getSeconds())}` : '';
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}${s}`;
}

/** @param {Coupon} c @returns {Draft} */
function draftOf(c) {
  /** @param {number | null} n */
  const text = (n) => (n === null ? '' : String(n));
  return {
    code: c.code, type: c.type, value: text(c.value), minSubtotal: text(c.minSubtotal),
    startsAt: localInput(c.startsAt), endsAt: localInput(c.endsAt), usageLimit: text(c.usageLimit),
    perCustomerLimit: text(c.perCustomerLimit), categories: c.categories, productIds: c.productIds.join(', '), active: c.active,
  };
}

/** @param {string} s @returns {CouponType} */
function typeOf(s) {
  return TYPES.find((t) => t.value === s)?.value ?? 'PERCENT';
}

/** @param {{id: number | null}} props */
export function CouponEditor({ id }) {
  const coupon = useAsync(() => (id === null ? Promise.resolve(null) : call('get', '/api/v1/admin/coupons/{id}', { path: { id } })), [id]);
  useTitle(id === null ? 'New coupon' : coupon.data ? `Coupon ${coupon.data.code}` : 'Coupon');
  if (coupon.loading && !coupon.data) return html`<${Loading} />`;
  if (coupon.error) return html`<section><p><a href="/admin/coupons">← Coupons</a></p><h1>Coupon</h1>
    <${ErrorBox} error=${coupon.error} onRetry=${coupon.reload} /></section>`;
  return html`<${Editor} key=${id ?? 'new'} coupon=${coupon.data} reload=${coupon.reload} />`;
}

/** @param {{coupon: Coupon | null, reload: () => void}} props */
function Editor({ coupon, reload }) {
  const [draft, setDraft] = useState(coupon ? draftOf(coupon) : BLANK);
  const [errors, setErrors] = useState(/** @type {Record<string, string[]>} */ ({}));
  const categories = useAsync(() => call('get', '/api/v1/products/categories'), []);
  const save = useAction();
  const [message] = useState(() => {
    if (!coupon || flash.id !== coupon.id) return '';
    const { text } = flash;
    flash = { id: 0, text: '' };
    return text;
  });

  /** @param {Exclude<keyof Draft, 'categories'>} k @returns {(e: Event) => void} */
  const bind = (k) => (e) => setDraft({ ...draft, [k]: k === 'active' ? checkedOf(e) : k === 'type' ? typeOf(valueOf(e)) : valueOf(e) });

  /** @param {Event} e */
  const submit = (e) => {
    e.preventDefault();
    save.run(async () => {
      setErrors({});
      /** @type {Record<string, string[]>} */
      const local = {};
      /** An amount, or null when the input is empty. @param {'value' | 'minSubtotal'} k */
      const amount = (k) => {
        const s = draft[k].trim();
        const n = Number(s);
        if (s !== '' && Number.isNaN(n)) local[k] = ['Enter a number.'];
        return s === '' ? null : n;
      };
      /** A limit, or null (no limit) when the input is empty. @param {'usageLimit' | 'perCustomerLimit'} k */
      const limit = (k) => {
        const s = draft[k].trim();
        const n = Number(s);
        if (s !== '' && !Number.isInteger(n)) local[k] = ['Enter a whole number, or leave it empty for no limit.'];
        return s === '' ? null : n;
      };
      /** A `datetime-local` value as an ISO time in UTC, or null when empty. @param {'startsAt' | 'endsAt'} k */
      const time = (k) => {
        if (!draft[k]) return null;
        const t = new Date(draft[k]);
        if (Number.isNaN(t.getTime())) {
          local[k] = ['Enter a date and a time.'];
          return null;
        }
        return t.toISOString();
      };
      const ids = draft.productIds.split(/[\s,]+/).filter(Boolean).map(Number);
      if (ids.some((n) => !Number.isInteger(n) || n < 1)) local.productIds = ['Product ids are whole numbers, separated by commas.'];
      const body = {
        code: draft.code.trim(), type: draft.type, value: draft.type === 'FREE_SHIPPING' ? null : amount('value'),
        minSubtotal: amount('minSubtotal'), startsAt: time('startsAt'), endsAt: time('endsAt'),
        usageLimit: limit('usageLimit'), perCustomerLimit: limit('perCustomerLimit'),
        categories: draft.categories, productIds: ids, active: draft.active,
      };
      if (Object.keys(local).length) {
        setErrors(local);
        throw new Error('Some fields need a look.');
      }
      try {
        if (!coupon) {
          const saved = await call('post', '/api/v1/admin/coupons', { body: withoutNulls(body) });
          flash = { id: saved.id, text: `Coupon “${saved.code}” created.` };
          navigate(`/admin/coupons/${saved.id}`, true);
          return;
        }
        // Only what changed: an absent field stays as it is, a null clears it.
        const before = draftOf(coupon);
        /** @param {keyof Draft} k */
        const changed = (k) => JSON.stringify(draft[k]) !== JSON.stringify(before[k]);
        /** @type {CouponPatch} */
        const patch = {
          code: changed('code') ? body.code : undefined,
          type: changed('type') ? body.type : undefined,
          // A change of type takes its value along (a free-shipping code has none).
          value: changed('value') || changed('type') ? body.value : undefined,
          minSubtotal: changed('minSubtotal') ? body.minSubtotal : undefined,
          startsAt: changed('startsAt') ? body.startsAt : undefined,
          endsAt: changed('endsAt') ? body.endsAt : undefined,
          usageLimit: changed('usageLimit') ? body.usageLimit : undefined,
          perCustomerLimit: changed('perCustomerLimit') ? body.perCustomerLimit : undefined,
          categories: changed('categories') ? body.categories : undefined,
          productIds: changed('productIds') ? body.productIds : undefined,
          active: changed('active') ? body.active : undefined,
        };
        if (!Object.values(patch).some((v) => v !== undefined)) return 'Nothing changed.';
        const saved = await call('patch', '/api/v1/admin/coupons/{id}', { path: { id: coupon.id }, body: patch });
        setDraft(draftOf(saved));
        reload();
        return 'Saved.';
      } catch (err) {
        if (err instanceof ApiError && (err.code === 'VALIDATION_ERROR' || err.code === 'COUPON_EXISTS')) {
          setErrors(err.code === 'COUPON_EXISTS' ? { code: ['Another coupon has this code (codes match in any case).'] } : err.details);
          throw new ApiError(err.status, err.code, 'Some fields need a change: see the messages beside them.', err.details, err.requestId);
        }
        throw err;
      }
    });
  };

  /** The field's errors; a list's items' ones too (`productIds.2`). @param {keyof Draft} k */
  const errs = (k) => Object.entries(errors).filter(([f]) => f === k || f.startsWith(k + '.')).flatMap(([, m]) => m);
  const otherErrors = Object.entries(errors).filter(([f]) => !(f.split('.')[0] in BLANK));
  /**
   * A text input with its label, hint and errors.
   * @param {'code' | 'value' | 'minSubtotal' | 'usageLimit' | 'perCustomerLimit' | 'productIds'} k
   * @param {string} label @param {{hint?: string, inputmode?: string, placeholder?: string, disabled?: boolean}} [o]
   */
  const input = (k, label, o = {}) => html`<${Field} id=${'c-' + k} label=${label} errors=${errs(k)} hint=${o.hint}>
    <input id=${'c-' + k} value=${o.disabled ? '' : draft[k]} disabled=${o.disabled} onInput=${bind(k)} inputmode=${o.inputmode} placeholder=${o.placeholder}
      aria-invalid=${errs(k).length > 0} aria-describedby=${describedBy(k, errs(k), o.hint)} />
  <//>`;
  /** @param {'startsAt' | 'endsAt'} k @param {string} label @param {string} hint */
  const when = (k, label, hint) => html`<${Field} id=${'c-' + k} label=${label} errors=${errs(k)} hint=${hint}>
    <input id=${'c-' + k} type="datetime-local" value=${draft[k]} onInput=${bind(k)}
      aria-invalid=${errs(k).length > 0} aria-describedby=${describedBy(k, errs(k), hint)} />
  <//>`;
  const w = coupon && windowOf(coupon);
  return html`<section>
    <p><a href="/admin/coupons">← Coupons</a></p>
    <h1>${coupon ? html`Coupon <code>${coupon.code}</code>` : 'New coupon'}</h1>
    ${message && html`<p class="success" role="status">${message}</p>`}
    <div class="grid editor">
      <form class="card" onSubmit=${submit} novalidate>
        <div class="row">
          ${input('code', 'Code', { hint: 'Letters, digits, - and _. Customers may type it in any case.' })}
          <${Field} id="c-type" label="Type" errors=${errs('type')}>
            <select id="c-type" value=${draft.type} onChange=${bind('type')}>
              ${TYPES.map((t) => html`<option value=${t.value}>${t.title}</option>`)}
            </select>
          <//>
        </div>
        <div class="row">
          ${input('value', { PERCENT: 'Percentage off', FIXED: 'Amount off', FREE_SHIPPING: 'Value' }[draft.type], {
            inputmode: 'decimal', disabled: draft.type === 'FREE_SHIPPING',
            hint: { PERCENT: 'Above 0, at most 100.', FIXED: 'Taken off the lines it applies to, at most their sum.',
              FREE_SHIPPING: 'None: the order ships free, nothing comes off the lines.' }[draft.type],
          })}
          ${input('minSubtotal', 'Minimum subtotal', { inputmode: 'decimal', hint: 'Empty: no minimum.' })}
        </div>
        <div class="row">
          ${when('startsAt', 'Starts', `Empty: from now. Times in ${ZONE}.`)}
          ${when('endsAt', 'Ends', 'Empty: no end.')}
        </div>
        <div class="row">
          ${input('usageLimit', 'Uses in all', { inputmode: 'numeric', hint: 'Empty: no limit.' })}
          ${input('perCustomerLimit', 'Uses per customer', { inputmode: 'numeric', hint: 'Empty: no limit.' })}
        </div>
        <${CategoryPicker} known=${categories.data ?? []} loading=${categories.loading} error=${categories.error} onRetry=${categories.reload}
          value=${draft.categories} errors=${errs('categories')} onChange=${(/** @type {string[]} */ v) => setDraft({ ...draft, categories: v })} />
        ${input('productIds', 'Only for products', { inputmode: 'numeric', placeholder: 'e.g. 3, 17', hint: 'Product ids, separated by commas. With no category and no product, the code applies to every line.' })}
        <div class="field check">
          <input id="c-active" type="checkbox" checked=${draft.active} onChange=${bind('active')} />
          <label for="c-active">Active (customers can use it)</label>
        </div>
        ${otherErrors.length > 0 && html`<ul class="field-error">${otherErrors.map(([k, m]) => html`<li>${k}: ${m.join(' ')}</li>`)}</ul>`}
        <${ActionResult} action=${save} />
        <div class="actions"><button type="submit" disabled=${save.busy}>${save.busy ? 'Saving…' : coupon ? 'Save changes' : 'Create coupon'}</button></div>
      </form>
      ${coupon && html`<div class="stack">
        <section class="card" aria-labelledby="c-usage-h"><h2 id="c-usage-h">Now</h2>
          <p><${Badge} status=${coupon.active ? 'ACTIVE' : 'INACTIVE'} />${w ? html` <${Badge} status=${w} />` : ''}${usedUp(coupon) ? html` <${Badge} status="USED_UP" />` : ''}</p>
          <dl class="pairs">
            <div><dt>Discount</dt><dd>${discountOf(coupon)}</dd></div>
            <div><dt>Used</dt><dd>${coupon.used} / ${coupon.usageLimit ?? '∞'}</dd></div>
            <div><dt>Created</dt><dd>${dateTime(coupon.createdAt)}</dd></div>
            <div><dt>Changed</dt><dd>${dateTime(coupon.updatedAt)}</dd></div>
          </dl>
          <p class="small">Used counts the orders placed with the code that were not cancelled.</p>
        </section>
        <${Delete} coupon=${coupon} />
      </div>`}
    </div>
  </section>`;
}

/** Which of a field's messages describe its input: the errors when it has some, else the hint.
 * @param {string} k @param {string[]} errors @param {string} [hint] */
function describedBy(k, errors, hint) {
  return errors.length ? `c-${k}-error` : hint ? `c-${k}-hint` : undefined;
}

/**
 * Drops the nulls of a new coupon's body: a field left empty is not sent.
 * @param {CouponPatch & {code: string, type: CouponType}} body
 * @returns {CouponInput}
 */
function withoutNulls(body) {
  /** @type {CouponInput} */
  const input = { code: body.code, type: body.type };
  if (typeof body.value === 'number') input.value = body.value;
  if (typeof body.minSubtotal === 'number') input.minSubtotal = body.minSubtotal;
  if (body.startsAt) input.startsAt = body.startsAt;
  if (body.endsAt) input.endsAt = body.endsAt;
  if (typeof body.usageLimit === 'number') input.usageLimit = body.usageLimit;
  if (typeof body.perCustomerLimit === 'number') input.perCustomerLimit = body.perCustomerLimit;
  if (body.categories?.length) input.categories = body.categories;
  if (body.productIds?.length) input.productIds = body.productIds;
  if (typeof body.active === 'boolean') input.active = body.active;
  return input;
}

/**
 * The categories a code is limited to: the shop's categories (and any the code already has)
 * as checkboxes.
 * @param {{known: string[], loading: boolean, error: unknown, onRetry: () => void, value: string[], errors: string[],
 *   onChange: (v: string[]) => void}} props
 */
function CategoryPicker({ known, loading, error, onRetry, value, errors, onChange }) {
  const all = [...new Set([...known, ...value])].sort();
  /** @param {string} c @param {boolean} on */
  const pick = (c, on) => onChange(on ? [...value, c].sort() : value.filter((v) => v !== c));
  return html`<fieldset class=${'field choices' + (errors.length ? ' invalid' : '')} aria-describedby="c-categories-hint">
    <legend>Only in categories</legend>
    ${loading && !all.length ? html`<p class="loading" role="status">Loading the categories…</p>`
      : error && !all.length ? html`<${ErrorBox} error=${error} onRetry=${onRetry} />`
      : all.length ? html`<ul>${all.map((c) => html`<li class="check">
          <input id=${'c-cat-' + c} type="checkbox" checked=${value.includes(c)}
            onChange=${(/** @type {Event} */ e) => pick(c, checkedOf(e))} />
          <label for=${'c-cat-' + c}>${c}</label></li>`)}</ul>`
      : html`<p class="small">The shop has no categories yet.</p>`}
    <p class="hint" id="c-categories-hint">None checked: every category.</p>
    ${errors.map((m) => html`<p class="field-error">${m}</p>`)}
  </fieldset>`;
}

/** @param {{coupon: Coupon}} props */
function Delete({ coupon }) {
  const [asking, setAsking] = useState(false);
  const act = useAction();
  const confirm = () => act.run(async () => {
    await call('delete', '/api/v1/admin/coupons/{id}', { path: { id: coupon.id } });
    navigate('/admin/coupons', true);
  });
  return html`<section class="card danger"><h2>Delete</h2>
    ${asking
      ? html`<p>Delete <code>${coupon.code}</code>? Customers can no longer use it; orders placed with it keep their discount.</p>
        <div class="actions"><button type="button" class="danger" disabled=${act.busy} onClick=${confirm}>Yes, delete</button>
        <button type="button" class="secondary" onClick=${() => setAsking(false)}>Keep it</button></div>`
      : html`<button type="button" class="danger" onClick=${() => setAsking(true)}>Delete coupon</button>`}
    <${ActionResult} action=${act} />
  </section>`;
}
