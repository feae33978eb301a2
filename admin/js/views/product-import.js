// CSV import of products: one upload, its progress, then the report row by row.
import { html, useState } from '../../vendor/htm-preact-standalone.js';
import { upload } from '../api.js';
import { ErrorBox } from '../ui.js';

/** @typedef {import('../types.js').ImportReport} ImportReport */

const COLUMNS = 'id,title,description,price,discountPercentage,stock,brand,category,thumbnail,images,tags,sku,isActive';

/** @param {{onDone: () => void}} props */
export function ImportPanel({ onDone }) {
  const [file, setFile] = useState(/** @type {File | null} */ (null));
  const [progress, setProgress] = useState(/** @type {number | null} */ (null));
  const [report, setReport] = useState(/** @type {ImportReport | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));

  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    if (!file) return;
    const form = new FormData();
    form.append('file', file, file.name);
    setError(null);
    setReport(null);
    setProgress(0);
    try {
      const data = await upload('/api/v1/admin/products/import', form, setProgress);
      setReport(/** @type {ImportReport} */ (data));
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setProgress(null);
    }
  };

  return html`<section class="card" aria-labelledby="import-h">
    <h2 id="import-h">Import products from CSV</h2>
    <p class="small">A header row with the columns <code>${COLUMNS}</code>; <code>images</code> and <code>tags</code> are separated by <code>|</code>.
      A row with an <code>id</code> updates that product, a row without creates one. A refused row changes nothing.</p>
    <form class="toolbar" onSubmit=${submit}>
      <label for="import-file" class="visually-hidden">CSV file</label>
      <input id="import-file" type="file" accept=".csv,text/csv"
        onChange=${(/** @type {Event} */ e) => { const t = e.currentTarget; setFile(t instanceof HTMLInputElement && t.files ? t.files[0] ?? null : null); }} />
      <button type="submit" disabled=${!file || progress !== null}>Import</button>
    </form>
    ${progress !== null && html`<p role="status"><label for="import-progress">Uploading… </label>
      <progress id="import-progress" max="1" value=${progress}>${Math.round(progress * 100)}%</progress> ${Math.round(progress * 100)}%</p>`}
    <${ErrorBox} error=${error} />
    ${report && html`<div class="import-report" role="status">
      <p>${`${report.created} created, ${report.updated} updated, ${report.failed.length} refused.`}</p>
      ${report.ignoredColumns.length > 0 && html`<p class="small">Columns not read (no such product field): ${report.ignoredColumns.join(', ')}.</p>`}
      ${report.failed.length > 0 && html`<div class="table-wrap"><table>
        <caption>Refused rows (line numbers as in the spreadsheet, the header is line 1)</caption>
        <thead><tr><th scope="col">Line</th><th scope="col">Field</th><th scope="col">Problem</th></tr></thead>
        <tbody>${report.failed.flatMap((f) => {
          // `errors` maps each field to its messages, like a VALIDATION_ERROR's `details`.
          const lines = Object.entries(f.errors).flatMap(([field, messages]) => messages.map((m) => [field, m]));
          return lines.map(([field, message], i) => html`<tr>
            ${i === 0 ? html`<th scope="row" rowspan=${lines.length}>${f.row}</th>` : null}
            <td><code>${field}</code></td><td>${message}</td></tr>`);
        })}</tbody>
      </table></div>`}
    </div>`}
  </section>`;
}
