// The admin app's entry: the shell (navigation, who is signed in) and the route table.
import { html, render, useEffect, useState } from './vendor/htm-preact-standalone.js';
import { restore, signOut, useSession } from './js/session.js';
import { ROOT, useRoute } from './js/router.js';
import { ErrorBox, Loading, useAsync } from './js/ui.js';
import { SignIn } from './js/views/sign-in.js';

/** @typedef {import('./vendor/htm-preact-standalone.js').VNode} VNode */

const SECTIONS = [
  { path: '', title: 'Dashboard' },
  { path: 'products', title: 'Products' },
  { path: 'orders', title: 'Orders' },
  { path: 'coupons', title: 'Coupons' },
  { path: 'customers', title: 'Customers' },
  { path: 'reviews', title: 'Reviews' },
  { path: 'audit', title: 'Audit log' },
  { path: 'jobs', title: 'Outbox jobs' },
  { path: 'webhooks', title: 'Webhooks' },
  { path: 'settings', title: 'Settings' },
];

/**
 * The screen of a route. Screens are loaded when first shown, so the first load (the sign-in
 * form) fetches only what it needs.
 * @param {string[]} parts
 * @param {URLSearchParams} query
 * @returns {Promise<VNode>}
 */
async function screen(parts, query) {
  const [section = '', id] = parts;
  switch (section) {
    case '': {
      const { Dashboard } = await import('./js/views/dashboard.js');
      return html`<${Dashboard} />`;
    }
    case 'products': {
      if (!id) return html`<${(await import('./js/views/products.js')).Products} />`;
      const { ProductEditor } = await import('./js/views/product-editor.js');
      return html`<${ProductEditor} id=${id === 'new' ? null : Number(id)} />`;
    }
    case 'orders': {
      if (!id) return html`<${(await import('./js/views/orders.js')).Orders} />`;
      const { OrderDetail } = await import('./js/views/order-detail.js');
      return html`<${OrderDetail} id=${id} />`;
    }
    case 'coupons': {
      if (!id) return html`<${(await import('./js/views/coupons.js')).Coupons} />`;
      const { CouponEditor } = await import('./js/views/coupon-editor.js');
      return html`<${CouponEditor} id=${id === 'new' ? null : Number(id)} />`;
    }
    case 'customers': {
      if (!id) return html`<${(await import('./js/views/customers.js')).Customers} />`;
      const { CustomerDetail } = await import('./js/views/customer-detail.js');
      return html`<${CustomerDetail} id=${Number(id)} />`;
    }
    case 'reviews': {
      const { Reviews } = await import('./js/views/reviews.js');
      return html`<${Reviews} productId=${Number(query.get('product')) || null} />`;
    }
    case 'audit': return html`<${(await import('./js/views/audit.js')).AuditLog} />`;
    case 'jobs': return html`<${(await import('./js/views/jobs.js')).Jobs} />`;
    case 'webhooks': {
      if (!id) return html`<${(await import('./js/views/webhooks.js')).Webhooks} />`;
      const { WebhookEditor } = await import('./js/views/webhook-editor.js');
      return html`<${WebhookEditor} id=${id === 'new' ? null : Number(id)} />`;
    }
    case 'settings': return html`<${(await import('./js/views/settings.js')).Settings} />`;
    default: return html`<section><h1>Not found</h1><p>This page does not exist. <a href=${ROOT}>Go to the dashboard</a>.</p></section>`;
  }
}

/** @param {{parts: string[], query: URLSearchParams}} props */
function Screen({ parts, query }) {
  const view = useAsync(() => screen(parts, query), [parts.join('/'), query.toString()]);
  if (view.error) return html`<${ErrorBox} error=${view.error} onRetry=${() => location.reload()} />`;
  return view.data ?? html`<${Loading} />`;
}

function App() {
  const session = useSession();
  const { parts, query } = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  const section = parts[0] ?? '';
  // A new screen closes the phone menu, and moves focus to it for keyboard and reader users.
  useEffect(() => {
    setMenuOpen(false);
    const main = document.getElementById('main');
    if (main && document.activeElement && document.activeElement.closest('nav')) main.focus();
  }, [location.pathname]);

  if (session.phase === 'checking') return html`<div class="center"><${Loading} label="Opening your session…" /></div>`;
  if (session.phase === 'signedOut' || !session.user) return html`<${SignIn} notice=${session.notice} />`;
  const user = session.user;
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header class="topbar">
      <a class="brand" href=${ROOT}>shopd <span>admin</span></a>
      <button type="button" class="menu-button" aria-expanded=${menuOpen} aria-controls="nav"
        onClick=${() => setMenuOpen(!menuOpen)}>Menu</button>
    </header>
    <nav id="nav" class=${'sidebar' + (menuOpen ? ' open' : '')} aria-label="Sections">
      <ul>
        ${SECTIONS.map((s) => html`<li><a href=${ROOT + s.path} aria-current=${s.path === section ? 'page' : undefined}>${s.title}</a></li>`)}
      </ul>
      <div class="who">
        <p title=${user.email}>${user.firstName} ${user.lastName}<br /><span class="small">${user.email}</span></p>
        <button type="button" class="secondary" onClick=${() => signOut()}>Sign out</button>
      </div>
    </nav>
    <main id="main" tabindex="-1"><${Screen} parts=${parts} query=${query} /></main>
  </div>`;
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(html`<${App} />`, root);
}
restore();
