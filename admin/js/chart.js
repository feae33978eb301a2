// A bar chart of one value per day, drawn as SVG (no library, nothing inline but attributes).
import { html } from '../vendor/htm-preact-standalone.js';

/**
 * @param {{points: {period: string, value: number}[], format: (n: number) => string, title: string}} props
 */
export function BarChart({ points, format, title }) {
  const W = 600, H = 170, PAD_L = 4, PAD_B = 2, PAD_T = 8;
  const max = Math.max(0, ...points.map((p) => p.value));
  const top = max > 0 ? max : 1;
  const slot = (W - PAD_L * 2) / Math.max(points.length, 1);
  const bar = Math.max(2, slot * 0.7);
  const total = points.reduce((s, p) => s + p.value, 0);
  const summary = `${title}: ${format(total)} over ${points.length} days, highest day ${format(max)}.`;
  // The SVG holds only bars, stretched to the box; the first, the middle and the last day are
  // labelled below it in HTML, so the labels keep their size however wide the chart is.
  const ticks = points.length ? [points[0], points[Math.floor((points.length - 1) / 2)], points[points.length - 1]] : [];
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-label=${summary} preserveAspectRatio="none">
      <line class="axis" x1=${PAD_L} x2=${W - PAD_L} y1=${H - PAD_B} y2=${H - PAD_B} />
      ${points.map((p, i) => {
        const h = ((H - PAD_B - PAD_T) * p.value) / top;
        const x = PAD_L + i * slot + (slot - bar) / 2;
        return html`<rect class="bar" x=${x} y=${H - PAD_B - h} width=${bar} height=${Math.max(h, p.value > 0 ? 1 : 0)}>
          <title>${p.period}: ${format(p.value)}</title>
        </rect>`;
      })}
    </svg>
    <div class="ticks" aria-hidden="true">${ticks.map((p) => html`<span>${p?.period}</span>`)}</div>
    <figcaption>${summary}</figcaption>
  </figure>`;
}
