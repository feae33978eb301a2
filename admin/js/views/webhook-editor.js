// One webhook endpoint: register a new one (its signing secret shown once, right after), or see
// one: change its URL and events, switch it off or on, send it a test event, read and replay its
// deliveries, delete it.
import { html, useEffect, useRef, useState } from '../../vendor/htm-preact-standalone.js';
import { ApiError, call } from '../api.js';
import { dateTime } from '../format.js';
import { navigate } from '../router.js';
import { ActionResult, Badge, ErrorBox, Field, Loading, checkedOf, useAction, useAsync, useTitle, valueOf } from '../ui.js';
import { Deliveries } from './webhook-deliveries.js';
import { EVENTS, EventChips, Signing, flashOnList } from './webhooks.js';

/** @typedef {import('../types.js').Webhook} Webhook */
/** @typedef {import('../types.js').WebhookInput} WebhookInput */
/** @typedef {import('../types.js').WebhookPatch} WebhookPatch */
/** @typedef {Record<string, string[]>} Errors */

/** The secret of the endpoint just made, carried to its screen: the one time it is shown. */
let flash = { id: 0, secret: '' };

/** @param {{id: number | null}} props */
export function WebhookEditor({ id }) {
  if (id === null) return html`<${NewWebhook} />`;
  return html`<${WebhookDetail} key=${id} id=${id} />`;
}

/** A URL as a title: its host. @param {string} url */
function hostOf(url) {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

/**
 * Takes an error answer apart for the form: a refused URL and a VALIDATION_ERROR's details go
 * beside their fields (`events.2` to the events, named), anything else is thrown as it is.
 * @param {unknown} err @param {string[]} sent the events sent, in order @param {(e: Errors) => void} setErrors
 * @returns {never}
 */
function fieldErrors(err, sent, setErrors) {
  if (err instanceof ApiError && err.code === 'WEBHOOK_URL_NOT_ALLOWED') {
    setErrors({ url: [err.message] });
    throw new ApiError(err.status, err.code, 'This URL is refused: see the message beside it.', {}, err.requestId);
  }
  if (err instanceof ApiError && err.code === 'VALIDATION_ERROR') {
    /** @type {Errors} */
    const errors = {};
    for (const [k, messages] of Object.entries(err.details)) {
      const item = /^events\.(\d+)$/.exec(k);
      const field = item ? 'events' : k;
      const named = item ? messages.map((m) => `${sent[Number(item[1])] ?? `Event ${Number(item[1]) + 1}`}: ${m}`) : messages;
      errors[field] = [...(errors[field] ?? []), ...named];
    }
    setErrors(errors);
    throw new ApiError(err.status, err.code, 'Some fields need a change: see the messages beside them.', err.details, err.requestId);
  }
  throw err;
}

/** The events as the API wants them: the known ones in their order, then any others kept. @param {string[]} picked */
function ordered(picked) {
  const known = EVENTS.map((e) => e.name);
  return [...known.filter((n) => picked.includes(n)), ...picked.filter((n) => !known.includes(n))];
}

/** Checks made before asking the server. @param {{url: string, events: string[]}} d @returns {Errors} */
function localErrors(d) {
  /** @type {Errors} */
  const errors = {};
  const url = d.url.trim();
  if (!url) errors.url = ['Enter the URL deliveries go to.'];
  else if (!/^https?:\/\//i.test(url)) errors.url = ['Only http:// and https:// URLs.'];
  if (!d.events.length) errors.events = ['Choose at least one event.'];
  return errors;
}

/** Which of a field's messages describe its input: the errors when it has some, else the hint.
 * @param {string} id @param {string[]} errors @param {string} [hint] */
function describedBy(id, errors, hint) {
  return errors.length ? `${id}-error` : hint ? `${id}-hint` : undefined;
}

const URL_HINT = 'http or https, reachable from the internet: private, loopback and link-local addresses are refused.';

/** @param {{errors: string[], value: string, onInput: (e: Event) => void}} props */
function UrlField({ errors, value, onInput }) {
  return html`<${Field} id="w-url" label="URL" errors=${errors} hint=${URL_HINT}>
    <input id="w-url" type="url" inputmode="url" autocomplete="off" spellcheck=${false} placeholder="https://example.com/hooks/shopd"
      value=${value} onInput=${onInput} aria-invalid=${errors.length > 0} aria-describedby=${describedBy('w-url', errors, URL_HINT)} />
  <//>`;
}

/**
 * The events an endpoint takes: one checkbox each, and one for all of them (mixed when some are).
 * @param {{value: string[], errors: string[], onChange: (v: string[]) => void}} props
 */
function EventPicker({ value, errors, onChange }) {
  const known = EVENTS.map((e) => e.name);
  // Events the endpoint has that this app does not know yet stay listed (and kept).
  const choices = [...EVENTS, ...value.filter((v) => !known.includes(v)).map((name) => ({ name, title: name }))];
  const picked = known.filter((n) => value.includes(n)).length;
  /** @param {string} name @param {boolean} on */
  const pick = (name, on) => onChange(ordered(on ? [...value, name] : value.filter((v) => v !== name)));
  return html`<fieldset class=${'field choices events' + (errors.length ? ' invalid' : '')} aria-describedby=${errors.length ? 'w-events-error' : undefined}>
    <legend>Events</legend>
    <div class="check all-events">
      <input id="w-ev-all" type="checkbox" checked=${picked === known.length} indeterminate=${picked > 0 && picked < known.length}
        onChange=${(/** @type {Event} */ e) => onChange(checkedOf(e) ? ordered([...new Set([...value, ...known])]) : [])} />
      <label for="w-ev-all">All events</label>
    </div>
    <ul>${choices.map((c, i) => html`<li>
      <input id=${'w-ev-' + i} type="checkbox" checked=${value.includes(c.name)} onChange=${(/** @type {Event} */ e) => pick(c.name, checkedOf(e))} />
      <label for=${'w-ev-' + i}>${c.title}${c.title !== c.name ? html` <code>${c.name}</code>` : ''}</label></li>`)}</ul>
    ${errors.map((m, i) => html`<p class="field-error" id=${i === 0 ? 'w-events-error' : undefined}>${m}</p>`)}
  </fieldset>`;
}

function NewWebhook() {
  useTitle('New webhook');
  const [draft, setDraft] = useState({ url: '', events: /** @type {string[]} */ ([]), secret: '', active: true });
  const [errors, setErrors] = useState(/** @type {Errors} */ ({}));
  const save = useAction();
  /** @param {Event} e */
  const submit = (e) => {
    e.preventDefault();
    save.run(async () => {
      const local = localErrors(draft);
      setErrors(local);
      if (Object.keys(local).length) throw new Error('Some fields need a look.');
      /** @type {WebhookInput} */
      const body = { url: draft.url.trim(), events: ordered(draft.events), active: draft.active };
      if (draft.secret.trim()) body.secret = draft.secret.trim();
      try {
        const saved = await call('post', '/api/v1/admin/webhooks', { body });
        flash = { id: saved.id, secret: saved.secret ?? '' };
        navigate(`/admin/webhooks/${saved.id}`, true);
      } catch (err) {
        fieldErrors(err, body.events, setErrors);
      }
    });
  };
  const secretHint = 'Leave it empty and one is made (recommended). Your own: whsec_ and base64, 24 to 200 characters.';
  const secretErrors = errors.secret ?? [];
  return html`<section>
    <p><a href="/admin/webhooks">← Webhooks</a></p>
    <h1>New webhook</h1>
    <${Signing} />
    <form class="card narrow" onSubmit=${submit} novalidate>
      <${UrlField} errors=${errors.url ?? []} value=${draft.url} onInput=${(/** @type {Event} */ e) => setDraft({ ...draft, url: valueOf(e) })} />
      <${EventPicker} value=${draft.events} errors=${errors.events ?? []} onChange=${(/** @type {string[]} */ v) => setDraft({ ...draft, events: v })} />
      <${Field} id="w-secret" label="Signing secret (optional)" errors=${secretErrors} hint=${secretHint}>
        <input id="w-secret" class="mono" autocomplete="off" spellcheck=${false} value=${draft.secret}
          onInput=${(/** @type {Event} */ e) => setDraft({ ...draft, secret: valueOf(e) })}
          aria-invalid=${secretErrors.length > 0} aria-describedby=${describedBy('w-secret', secretErrors, secretHint)} />
      <//>
      <div class="field check">
        <input id="w-active" type="checkbox" checked=${draft.active} onChange=${(/** @type {Event} */ e) => setDraft({ ...draft, active: checkedOf(e) })} />
        <label for="w-active">Active (events are sent to it)</label>
      </div>
      <${Others} errors=${errors} known=${['url', 'events', 'secret']} />
      <${ActionResult} action=${save} />
      <div class="actions"><button type="submit" disabled=${save.busy}>${save.busy ? 'Creating…' : 'Create webhook'}</button></div>
    </form>
  </section>`;
}

/** Messages for fields this form does not show (so none is lost). @param {{errors: Errors, known: string[]}} props */
function Others({ errors, known }) {
  const other = Object.entries(errors).filter(([k]) => !known.includes(k));
  return other.length > 0 && html`<ul class="field-error">${other.map(([k, m]) => html`<li>${k}: ${m.join(' ')}</li>`)}</ul>`;
}

/** The API has no GET of one endpoint: it is found in the list. @param {{id: number}} props */
function WebhookDetail({ id }) {
  const list = useAsync(() => call('get', '/api/v1/admin/webhooks'), [id]);
  const [secret] = useState(() => {
    if (flash.id !== id) return '';
    const { secret: s } = flash;
    flash = { id: 0, secret: '' };
    return s;
  });
  const hook = list.data?.webhooks.find((w) => w.id === id) ?? null;
  useTitle(hook ? `Webhook ${hostOf(hook.url)}` : 'Webhook');
  if (list.loading && !list.data) return html`<${Loading} />`;
  const back = html`<p><a href="/admin/webhooks">← Webhooks</a></p>`;
  if (list.error) return html`<section>${back}<h1>Webhook</h1><${ErrorBox} error=${list.error} onRetry=${list.reload} /></section>`;
  if (!hook) return html`<section>${back}<h1>Webhook</h1><p class="empty">No webhook has this id: it may have been deleted.</p></section>`;
  return html`<section>
    ${back}
    <h1 class="webhook-title">Webhook <code>${hook.url}</code> <${Badge} status=${hook.active ? 'ACTIVE' : 'INACTIVE'} /></h1>
    <${Signing} />
    ${secret && html`<${SecretBox} secret=${secret} />`}
    <div class="grid editor below">
      <${EditForm} webhook=${hook} reload=${list.reload} />
      <div class="stack">
        <${Status} webhook=${hook} reload=${list.reload} />
        <${Delete} webhook=${hook} />
      </div>
    </div>
    <${Deliveries} webhook=${hook} />
  </section>`;
}

/**
 * The signing secret of an endpoint just made: the only time the API shows it.
 * @param {{secret: string}} props
 */
function SecretBox({ secret }) {
  const input = useRef(/** @type {HTMLInputElement | null} */ (null));
  const [copied, setCopied] = useState('');
  const select = () => input.current?.select();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('Copied to the clipboard.');
    } catch {
      // No clipboard (an insecure origin, a refused permission): the text is selected to copy by hand.
      select();
      setCopied('The secret is selected: press Ctrl+C (⌘C on a Mac) to copy it.');
    }
  };
  return html`<section class="card secret-box" aria-labelledby="w-secret-h">
    <h2 id="w-secret-h">Signing secret</h2>
    <p>Give this secret to the receiver: it checks each delivery's <code>webhook-signature</code> with it. <strong>Copy it now: it will not be shown again.</strong></p>
    <div class="secret-row">
      <input id="w-secret-value" class="mono" ref=${input} readonly value=${secret} aria-label="Signing secret" spellcheck=${false} onFocus=${select} />
      <button type="button" onClick=${copy}>Copy</button>
    </div>
    <p class="success" role="status">${copied}</p>
  </section>`;
}

/** @param {Webhook} w */
const draftOf = (w) => ({ url: w.url, events: w.events });

/** The endpoint's URL and events. @param {{webhook: Webhook, reload: () => void}} props */
function EditForm({ webhook, reload }) {
  const [draft, setDraft] = useState(draftOf(webhook));
  const [errors, setErrors] = useState(/** @type {Errors} */ ({}));
  const save = useAction();
  /** @param {Event} e */
  const submit = (e) => {
    e.preventDefault();
    save.run(async () => {
      const local = localErrors(draft);
      setErrors(local);
      if (Object.keys(local).length) throw new Error('Some fields need a look.');
      const url = draft.url.trim();
      const events = ordered(draft.events);
      // Only what changed: an absent field stays as it is.
      /** @type {WebhookPatch} */
      const patch = {};
      if (url !== webhook.url) patch.url = url;
      if (JSON.stringify([...events].sort()) !== JSON.stringify([...webhook.events].sort())) patch.events = events;
      if (!Object.keys(patch).length) return 'Nothing changed.';
      try {
        const saved = await call('patch', '/api/v1/admin/webhooks/{id}', { path: { id: webhook.id }, body: patch });
        setDraft(draftOf(saved));
        reload();
        return 'Saved.';
      } catch (err) {
        return fieldErrors(err, events, setErrors);
      }
    });
  };
  return html`<form class="card" onSubmit=${submit} novalidate aria-labelledby="w-edit-h">
    <h2 id="w-edit-h">Endpoint</h2>
    <${UrlField} errors=${errors.url ?? []} value=${draft.url} onInput=${(/** @type {Event} */ e) => setDraft({ ...draft, url: valueOf(e) })} />
    <${EventPicker} value=${draft.events} errors=${errors.events ?? []} onChange=${(/** @type {string[]} */ v) => setDraft({ ...draft, events: v })} />
    <${Others} errors=${errors} known=${['url', 'events']} />
    <${ActionResult} action=${save} />
    <div class="actions"><button type="submit" disabled=${save.busy}>${save.busy ? 'Saving…' : 'Save changes'}</button></div>
  </form>`;
}

/** On or off, and when it was made and changed. @param {{webhook: Webhook, reload: () => void}} props */
function Status({ webhook, reload }) {
  const act = useAction();
  const toggle = () => act.run(async () => {
    const after = await call('patch', '/api/v1/admin/webhooks/{id}', { path: { id: webhook.id }, body: { active: !webhook.active } });
    reload();
    return after.active ? 'Webhook activated: events are sent to it again.' : 'Webhook deactivated: nothing is sent to it, not even a test or a replay.';
  });
  return html`<section class="card" aria-labelledby="w-status-h">
    <h2 id="w-status-h">Status</h2>
    <p><${Badge} status=${webhook.active ? 'ACTIVE' : 'INACTIVE'} /> ${webhook.active ? 'Events are sent to this endpoint.' : 'Nothing is sent to this endpoint.'}</p>
    <dl class="pairs">
      <div><dt>Events</dt><dd><${EventChips} events=${webhook.events} /></dd></div>
      <div><dt>Created</dt><dd>${dateTime(webhook.createdAt)}</dd></div>
      <div><dt>Changed</dt><dd>${dateTime(webhook.updatedAt)}</dd></div>
    </dl>
    <div class="actions"><button type="button" class="secondary" disabled=${act.busy} onClick=${toggle}>${webhook.active ? 'Deactivate' : 'Activate'}</button></div>
    <${ActionResult} action=${act} />
  </section>`;
}

/** @param {{webhook: Webhook}} props */
function Delete({ webhook }) {
  const [asking, setAsking] = useState(false);
  const keep = useRef(/** @type {HTMLButtonElement | null} */ (null));
  useEffect(() => { if (asking) keep.current?.focus(); }, [asking]);
  const act = useAction();
  const confirm = () => act.run(async () => {
    await call('delete', '/api/v1/admin/webhooks/{id}', { path: { id: webhook.id } });
    flashOnList(`Webhook to ${webhook.url} deleted.`);
    navigate('/admin/webhooks', true);
  });
  return html`<section class="card danger" aria-labelledby="w-delete-h"><h2 id="w-delete-h">Delete</h2>
    ${asking
      ? html`<div class="confirm" role="group" aria-label="Delete this webhook?">
        <p>Delete the webhook to <code>${webhook.url}</code>? Deliveries still due to it are dropped, and its delivery log goes with it.</p>
        <div class="actions"><button type="button" class="danger" disabled=${act.busy} onClick=${confirm}>Yes, delete</button>
        <button type="button" class="secondary" ref=${keep} onClick=${() => setAsking(false)}>Keep it</button></div></div>`
      : html`<button type="button" class="danger" onClick=${() => setAsking(true)}>Delete webhook…</button>`}
    <${ActionResult} action=${act} />
  </section>`;
}

