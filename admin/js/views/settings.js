// The shop's settings: who sells (name, legal name, address, tax id), how it speaks (support
// email, sender name), its money, paper and days, and its logo.
import { html, useEffect, useState } from '../../vendor/htm-preact-standalone.js';
import { ApiError, call, upload } from '../api.js';
import { ActionResult, ErrorBox, Field, Loading, useAction, useAsync, useTitle, valueOf } from '../ui.js';

/** @typedef {import('../types.js').ShopSettings} ShopSettings */
/** @typedef {{name: string, legalName: string, address: string, taxId: string, supportEmail: string,
 *   senderName: string, currency: string, invoiceFooter: string, paperSize: 'A4' | 'LETTER', timezone: string}} Draft */

/** @param {ShopSettings} s @returns {Draft} */
const draftOf = (s) => ({
  name: s.name, legalName: s.legalName ?? '', address: s.address ?? '', taxId: s.taxId ?? '',
  supportEmail: s.supportEmail ?? '', senderName: s.senderName ?? '', currency: s.currency,
  invoiceFooter: s.invoiceFooter ?? '', paperSize: s.paperSize, timezone: s.timezone,
});

export function Settings() {
  useTitle('Settings');
  const current = useAsync(() => call('get', '/api/v1/admin/settings'), []);
  return html`<section>
    <div class="heading"><h1>Settings</h1></div>
    ${current.loading && !current.data ? html`<${Loading} />` : current.error ? html`<${ErrorBox} error=${current.error} onRetry=${current.reload} />`
      : current.data && html`<${Form} settings=${current.data} onSaved=${current.reload} />
        <${Logo} settings=${current.data} onSaved=${current.reload} />`}
  </section>`;
}

/** @param {{settings: ShopSettings, onSaved: () => void}} props */
function Form({ settings, onSaved }) {
  const [draft, setDraft] = useState(draftOf(settings));
  const [errors, setErrors] = useState(/** @type {Record<string, string[]>} */ ({}));
  useEffect(() => setDraft(draftOf(settings)), [settings]);
  const save = useAction();
  /** @param {keyof Draft} k @returns {(e: Event) => void} */
  const bind = (k) => (e) => {
    const v = valueOf(e);
    setDraft({ ...draft, [k]: k === 'paperSize' ? (v === 'LETTER' ? 'LETTER' : 'A4') : v });
  };
  /** @param {Event} e */
  const submit = (e) => {
    e.preventDefault();
    save.run(async () => {
      setErrors({});
      try {
        await call('put', '/api/v1/admin/settings', { body: draft });
      } catch (err) {
        if (err instanceof ApiError && err.code === 'VALIDATION_ERROR') {
          setErrors(err.details);
          throw new ApiError(err.status, err.code, 'Some fields need a change: see the messages beside them.', err.details, err.requestId);
        }
        throw err;
      }
      onSaved();
      return 'Settings saved.';
    });
  };
  /** @param {keyof Draft} k @param {string} text @param {string} [hint] @param {string} [type] */
  const text = (k, text, hint, type = 'text') => html`<${Field} id=${'s-' + k} label=${text} errors=${errors[k] ?? []} hint=${hint}>
    <input id=${'s-' + k} type=${type} value=${draft[k]} onInput=${bind(k)} />
  <//>`;
  return html`<form class="card" onSubmit=${submit} aria-labelledby="s-shop">
    <h2 id="s-shop">The shop</h2>
    ${text('name', 'Shop name')}
    ${text('legalName', 'Legal name', 'On invoices; the shop name when empty.')}
    ${text('address', 'Address', 'One line, parts separated by commas.')}
    ${text('taxId', 'Tax id')}
    ${text('supportEmail', 'Support email', undefined, 'email')}
    ${text('senderName', 'Mail sender name', 'The shop name when empty.')}
    ${text('currency', 'Currency', 'Three letters (ISO 4217), like USD or EUR.')}
    ${text('timezone', 'Timezone', 'IANA name, like Europe/Berlin: where the days of the sales figures begin.')}
    <${Field} id="s-paperSize" label="Invoice paper" errors=${errors.paperSize ?? []}>
      <select id="s-paperSize" value=${draft.paperSize} onChange=${bind('paperSize')}>
        <option value="A4">A4</option><option value="LETTER">US Letter</option>
      </select>
    <//>
    <${Field} id="s-invoiceFooter" label="Invoice footer" errors=${errors.invoiceFooter ?? []}>
      <textarea id="s-invoiceFooter" rows="3" value=${draft.invoiceFooter} onInput=${bind('invoiceFooter')}></textarea>
    <//>
    <div class="actions"><button type="submit" disabled=${save.busy}>${save.busy ? 'Saving…' : 'Save settings'}</button></div>
    <${ActionResult} action=${save} />
  </form>`;
}

/** @param {{settings: ShopSettings, onSaved: () => void}} props */
function Logo({ settings, onSaved }) {
  const [file, setFile] = useState(/** @type {File | null} */ (null));
  const [preview, setPreview] = useState('');
  const [progress, setProgress] = useState(0);
  const act = useAction();
  useEffect(() => {
    if (!file) return undefined;
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);
  const send = () => act.run(async () => {
    if (!file) return 'Choose an image first.';
    const form = new FormData();
    form.append('logo', file);
    await upload('/api/v1/admin/settings/logo', form, setProgress);
    setFile(null);
    setPreview('');
    onSaved();
    return 'Logo saved.';
  });
  return html`<section class="card" aria-labelledby="s-logo">
    <h2 id="s-logo">Logo</h2>
    ${settings.logoUrl ? html`<img class="logo" src=${settings.logoUrl} alt="The shop's logo" />` : html`<p class="small">No logo yet.</p>`}
    <${Field} id="s-logo-file" label="New logo" hint="JPEG, PNG or WebP; shown at most 512 px wide.">
      <input id="s-logo-file" type="file" accept="image/jpeg,image/png,image/webp"
        onChange=${(/** @type {Event} */ e) => { const t = e.currentTarget; setFile(t instanceof HTMLInputElement && t.files?.[0] ? t.files[0] : null); }} />
    <//>
    ${preview && html`<img class="logo" src=${preview} alt="Preview of the new logo" />`}
    ${act.busy && html`<progress max="1" value=${progress}></progress>`}
    <div class="actions"><button type="button" disabled=${act.busy || !file} onClick=${send}>Upload logo</button></div>
    <${ActionResult} action=${act} />
  </section>`;
}
