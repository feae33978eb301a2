#!/usr/bin/env node
// Browser tests of the admin app: starts its own shopd (SHOPD_BIN, default target/debug/shopd)
// on a free port with a fresh data dir and the demo seed, drives Debian's Chromium
// (CHROMIUM, default /usr/bin/chromium) through the scenarios of issue #12, validates every
// /api/v1 answer the app received against the served OpenAPI document, and writes screenshots
// of every screen (desktop and phone) to target/admin-screenshots/. Exit 0 only if all pass.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startShopd } from './lib/server.mjs';
import { responseValidator } from './lib/openapi.mjs';
import { stepOf, totp } from './lib/totp.mjs';
import { squarePng } from './lib/png.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(repo, 'target', 'admin-screenshots');
const ADMIN = { email: 'admin@shopd.local', password: 'ShopdAdmin1' };
const CUSTOMER = { email: 'customer@shopd.local', password: 'ShopdDemo1' };
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };
const ADDRESS = { firstName: 'Ann', lastName: 'Lee', address: '1 Main St', city: 'Springfield', state: 'IL', zipCode: '62701', country: 'US', phone: '+1 217 555 0100' };

mkdirSync(SHOTS, { recursive: true });
for (const f of readdirSync(SHOTS)) if (f.startsWith('failure-')) rmSync(join(SHOTS, f));
const work = mkdtempSync(join(tmpdir(), 'shopd-admin-run-'));
// Access tokens of 45 s: the app refreshes 30 s before expiry, so during the run it refreshes
// again and again, often with several requests waiting at once (its single-flight refresh).
// Mail goes to a port where nothing listens and a job gets one try, so the order's mails end
// up DEAD in the outbox: the dashboard and the jobs screen then have something to show and retry.
const server = await startShopd(process.env.SHOPD_BIN ?? join(repo, 'target', 'debug', 'shopd'), {
  JWT_EXPIRES_IN: '45s', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(await freePort()), SMTP_TLS: 'none', JOB_MAX_ATTEMPTS: '1',
});
const base = server.base;
const spec = await (await fetch(base + '/api/v1/openapi.json')).json();
const checkAnswer = responseValidator(spec);
const has = (path) => path in spec.paths;

const results = [];
const problems = []; // answers that do not match the document, page errors, CSP reports
let browser;

/** Fails the current scenario with a message a person can act on. */
function expect(cond, message) {
  if (!cond) throw new Error(message);
}

async function api(method, path, { token, body, headers = {} } = {}) {
  const res = await fetch(base + '/api/v1' + path, {
    method,
    headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const json = (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : null;
  return { status: res.status, body: json };
}

async function apiOk(method, path, opts) {
  const r = await api(method, path, opts);
  if (r.status >= 400) throw new Error(`${method} /api/v1${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.data;
}

async function scenario(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`PASS  ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL  ${name}\n      ${String(err && err.message ? err.message : err).split('\n').join('\n      ')}`);
    console.log(`      the app's last API calls:\n${trace.slice(-10).map((t) => `        ${t}`).join('\n')}`);
    const safe = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await page?.screenshot({ path: join(SHOTS, `failure-${safe}.png`), fullPage: true }).catch(() => {});
  }
}

function skip(name, why) {
  results.push({ name, ok: true, skipped: true });
  console.log(`SKIP  ${name}: ${why}`);
}

// ---- the browser, with every /api/v1 answer recorded and checked ----
browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(15_000);
const pending = [];
let answersChecked = 0;
const trace = []; // the app's API calls, to show what it waited for when a scenario fails
let refreshes = 0;
const t0 = Date.now();
page.on('request', (req) => {
  const u = new URL(req.url());
  if (u.pathname.startsWith('/api/')) trace.push(`${((Date.now() - t0) / 1000).toFixed(2)} s  sent     ${req.method()} ${u.pathname}${u.search}`);
});
page.on('requestfinished', async (req) => {
  const u = new URL(req.url());
  if (!u.pathname.startsWith('/api/')) return;
  const status = (await req.response())?.status();
  if (u.pathname === '/api/v1/auth/refresh' && status === 200) refreshes++;
  trace.push(`${((Date.now() - t0) / 1000).toFixed(2)} s  answered ${req.method()} ${u.pathname} ${status}`);
});
page.on('requestfailed', (req) => trace.push(`${((Date.now() - t0) / 1000).toFixed(2)} s  failed   ${req.method()} ${req.url()} ${req.failure()?.errorText}`));
page.on('response', (res) => {
  const url = new URL(res.url());
  if (url.origin !== base || !url.pathname.startsWith('/api/v1/')) return;
  if (!(res.headers()['content-type'] ?? '').includes('json')) return;
  pending.push((async () => {
    let body;
    try {
      body = await res.json();
    } catch {
      return; // a body the browser already dropped (navigation): nothing to check
    }
    answersChecked++;
    const why = checkAnswer(res.request().method(), url.pathname, res.status(), body);
    if (why) problems.push(`answer not as documented: ${why}`);
  })());
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => {
  if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
});

const url = (path) => base + '/admin/' + path;
const heading = (name) => page.getByRole('heading', { level: 1, name });
/** Waits for a screen's loading indicators to go (and for its data to show). */
async function settled() {
  await page.waitForFunction(() => !document.querySelector('.loading'), null, { timeout: 15_000 });
}
async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

let recoveryCodes = [];
let twoFactorSecret = '';

async function fillSignIn(creds) {
  await page.getByLabel('Email').fill(creds.email);
  await page.getByLabel('Password').fill(creds.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Signs in through the UI with the admin's password and a recovery code (the TOTP step may be spent). */
async function signInAgain() {
  await page.goto(url(''));
  const signedIn = await Promise.race([
    heading('Dashboard').waitFor().then(() => true),
    page.getByLabel('Email').waitFor().then(() => false),
  ]);
  if (signedIn) return;
  await fillSignIn(ADMIN);
  await page.getByRole('button', { name: 'Use a recovery code' }).click();
  await page.getByLabel('Recovery code').fill(recoveryCodes.shift());
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await heading('Dashboard').waitFor();
}

// Shared between scenarios.
let order = null;
let productTitle = '';
let productId = 0;

try {
  await scenario('0. a customer account is told it is not an admin (signing in with the keyboard only)', async () => {
    await page.goto(url(''));
    await page.getByLabel('Email').focus();
    await page.keyboard.type(CUSTOMER.email);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id) === 'password', 'Tab from the email does not reach the password');
    await page.keyboard.type(CUSTOMER.password);
    await page.keyboard.press('Enter');
    await page.getByText('is not an admin account').waitFor();
    await shot('sign-in-not-admin-desktop');
  });

  await scenario('1. two-factor sign-in through the UI, reload keeps the session, sign out', async () => {
    const signedIn = await apiOk('POST', '/auth/login', { body: ADMIN });
    const setup = await apiOk('POST', '/auth/2fa/setup', { token: signedIn.token, body: { password: ADMIN.password } });
    twoFactorSecret = setup.secret;
    const enableStep = stepOf();
    const enabled = await apiOk('POST', '/auth/2fa/enable', { token: signedIn.token, body: { code: totp(twoFactorSecret) } });
    recoveryCodes = [...enabled.recoveryCodes];
    expect(recoveryCodes.length > 0, 'enable gave no recovery codes');

    await page.goto(url(''));
    await fillSignIn(ADMIN);
    await page.getByLabel('Code from your authenticator app').waitFor();
    await shot('sign-in-code-desktop');
    // A code of a step already used is refused: wait for the next step if enabling used this one.
    while (stepOf() <= enableStep) await page.waitForTimeout(500);
    await page.getByLabel('Code from your authenticator app').fill(totp(twoFactorSecret));
    await page.getByRole('button', { name: 'Verify and sign in' }).click();
    await heading('Dashboard').waitFor();

    await page.reload();
    await heading('Dashboard').waitFor();
    expect(await page.getByLabel('Email').count() === 0, 'after a reload the sign-in form shows: the session did not survive');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    await page.reload();
    await page.getByLabel('Email').waitFor();
    await shot('sign-in-desktop');
    // The refresh cookie is gone with the session: a reload must not sign in again.
    expect(await heading('Dashboard').count() === 0, 'signed in again after sign-out and reload');
  });

  await scenario('2. create a product with an image through the UI, find it in the public search', async () => {
    await signInAgain();
    const png = join(work, 'square.png');
    writeFileSync(png, squarePng());
    productTitle = `Admin Test Lamp ${Date.now().toString(36)}`;
    await page.goto(url('products/new'));
    await heading('New product').waitFor();
    await page.getByLabel('Title').fill(productTitle);
    await page.getByLabel('Description').fill('A lamp made by the admin tests.');
    await page.getByLabel('Price').fill('0');
    await page.getByLabel('Stock').fill('12');
    await page.getByLabel('Brand').fill('Testlight');
    await page.getByLabel('Category').fill('lighting');
    await page.getByLabel('Tags').fill('lamp, test');
    await page.getByLabel('Images').setInputFiles(png);
    await page.getByRole('img', { name: 'Preview of square.png' }).waitFor();
    // A price of 0 is refused by the API: its message shows beside the price.
    await page.getByRole('button', { name: 'Create product' }).click();
    const priceError = page.locator('.field.invalid:has(#p-price) .field-error');
    await priceError.waitFor();
    await shot('product-errors-desktop');
    await page.getByLabel('Price').fill('49.50');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByText(`Product “${productTitle}” created.`).waitFor();
    productId = Number(new URL(page.url()).pathname.split('/').pop());
    expect(productId > 0, `after create the URL is ${page.url()}`);
    const images = page.locator('.images img');
    await images.first().waitFor();
    const src = await images.first().getAttribute('src');
    expect(src && src.includes('/uploads/'), `the product's image is ${src}, not an uploaded file`);
    const loaded = await page.waitForFunction((img) => img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0,
      await images.first().elementHandle(), { timeout: 10_000 }).then(() => true, () => false);
    expect(loaded, `the uploaded image ${src} does not load`);

    const found = await apiOk('GET', `/products/search?q=${encodeURIComponent(productTitle)}`);
    const hit = found.products.find((p) => p.id === productId);
    expect(hit, `the public search for “${productTitle}” does not list product ${productId}`);
    expect(hit.images.length >= 1 && hit.price === 49.5, `the public product is ${JSON.stringify(hit)}`);

    // Stock adjustment through the UI.
    await page.getByLabel('Add or remove').fill('3');
    await page.getByRole('button', { name: 'Adjust' }).click();
    await page.getByText('Stock is now 15.').waitFor();
  });

  await scenario('2b. an inactive product leaves the shop, stays in the admin list, and comes back', async () => {
    await page.goto(url(`products/${productId}`));
    await page.getByLabel('Active (listed in the shop)').uncheck();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved.').waitFor();
    const gone = await api('GET', `/products/${productId}`);
    expect(gone.status === 404, `an inactive product is still public (${gone.status})`);
    await page.goto(url('products'));
    await settled();
    await page.getByLabel('Show').selectOption('INACTIVE');
    await settled();
    const row = page.locator('tbody tr', { hasText: productTitle });
    await row.locator('.badge', { hasText: 'Inactive' }).waitFor();
    await row.getByRole('link', { name: productTitle }).click();
    await page.getByLabel('Active (listed in the shop)').check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved.').waitFor();
    const back = await api('GET', `/products/${productId}`);
    expect(back.status === 200, `the product did not come back (${back.status})`);
  });

  await scenario('3. a customer order placed through the API shows on the dashboard and in the orders list', async () => {
    const customer = await apiOk('POST', '/auth/login', { body: CUSTOMER });
    const t = customer.token;
    await apiOk('DELETE', '/cart', { token: t });
    await apiOk('POST', '/cart/items', { token: t, body: { productId: 1, quantity: 2 } });
    order = await apiOk('POST', '/orders', { token: t, body: { shippingAddress: ADDRESS }, headers: { 'Idempotency-Key': crypto.randomUUID() } });
    const intent = await apiOk('POST', '/payments/create-intent', { token: t, body: { orderId: order.id }, headers: { 'Idempotency-Key': crypto.randomUUID() } });
    const paid = await apiOk('POST', '/payments/confirm', { token: t, body: { paymentIntentId: intent.id } });
    expect(paid.status === 'SUCCEEDED', `the offline payment is ${paid.status}`);

    await signInAgain();
    await page.goto(url(''));
    await heading('Dashboard').waitFor();
    await settled();
    const recent = page.locator(`a[href="/admin/orders/${order.id}"]`);
    expect(await recent.count() > 0, 'the dashboard\'s recent orders do not list the new order');
    if (has('/api/v1/admin/stats/overview')) {
      const today = page.getByRole('region', { name: 'Today' });
      const text = await today.innerText();
      expect(!/Orders\s*0\b/.test(text), `today's figures do not count the order: ${text.replace(/\s+/g, ' ')}`);
    }
    await shot('dashboard-desktop');

    await page.goto(url('orders'));
    await heading('Orders').waitFor();
    await settled();
    const row = page.locator('table.orders tbody tr', { has: page.locator(`a[href="/admin/orders/${order.id}"]`) });
    await row.waitFor();
    expect((await row.innerText()).includes('Processing'), `the order's row says: ${await row.innerText()}`);
    await shot('orders-desktop');
    // The filters: the customer's email finds it, a status it does not have hides it.
    await page.getByLabel('Order id or customer email').fill(CUSTOMER.email.toUpperCase());
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await row.waitFor();
    await page.getByLabel('Status').selectOption('CANCELLED');
    await page.getByText('No order matches these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await row.waitFor();
  });

  await scenario('4. ship with carrier and tracking, refund part, deliver, approve a return — all in the UI', async () => {
    expect(order, 'no order from scenario 3');
    await page.goto(url('orders/' + order.id));
    await page.getByRole('heading', { level: 1, name: /Order/ }).waitFor();
    await settled();
    await page.getByLabel('Move to').selectOption('SHIPPED');
    await page.getByLabel('Carrier').fill('UPS');
    await page.getByLabel('Tracking number').fill('1Z999AA10123456784');
    await page.getByRole('button', { name: 'Mark shipped' }).click();
    await page.getByText('Marked shipped.').waitFor();
    await page.locator('[data-testid="tracking"]', { hasText: '1Z999AA10123456784' }).waitFor();
    expect((await page.locator('[data-testid="carrier"]').innerText()) === 'UPS', 'the carrier does not show');
    expect((await page.locator('h1').innerText()).includes('Shipped'), 'the order does not show as shipped');

    await page.getByLabel(/Refund amount/).fill('5');
    await page.getByRole('button', { name: 'Refund', exact: true }).click();
    await page.getByText(/^Refunded\./).waitFor();
    await page.locator('[data-testid="refunded"]', { hasText: '$5.00' }).waitFor();
    await page.locator('#pay-h + dl .badge', { hasText: 'Partially refunded' }).waitFor();

    await page.getByLabel('Add a note').fill('Left at the door, as asked.');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.getByText('Left at the door, as asked.').first().waitFor();

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Invoice (PDF)' }).click();
    const pdf = readFileSync(await (await download).path());
    expect(pdf.subarray(0, 5).toString() === '%PDF-', 'the invoice download is not a PDF');

    await page.getByLabel('Move to').selectOption('DELIVERED');
    await page.getByRole('button', { name: 'Mark delivered' }).click();
    await page.getByText('Marked delivered.').waitFor();

    const customer = await apiOk('POST', '/auth/login', { body: CUSTOMER });
    const full = await apiOk('GET', `/orders/${order.id}`, { token: customer.token });
    await apiOk('POST', `/orders/${order.id}/returns`, {
      token: customer.token, body: { reason: 'One was too many.', items: [{ orderItemId: full.items[0].id, quantity: 1 }] },
    });
    await page.reload();
    await page.getByRole('button', { name: 'Approve return' }).click();
    await page.getByText(/^Return approved/).waitFor();
    await page.locator('#returns-h ~ ul .badge', { hasText: 'Approved' }).waitFor();
    expect(await page.getByRole('button', { name: 'Approve return' }).count() === 0, 'the return can still be decided');
    const after = await apiOk('GET', `/orders/${order.id}`, { token: customer.token });
    expect(after.returns[0].status === 'APPROVED' && after.payment.refunded > 5, `after approval: return ${after.returns[0].status}, refunded ${after.payment.refunded}`);
    await shot('order-detail-desktop');
  });

  await scenario('4b. mark an unpaid order paid, then cancel it (its payment is refunded) — in the UI', async () => {
    const customer = await apiOk('POST', '/auth/login', { body: CUSTOMER });
    const second = await apiOk('POST', '/orders', {
      token: customer.token, body: { products: [{ id: 2, quantity: 1 }], shippingAddress: ADDRESS }, headers: { 'Idempotency-Key': crypto.randomUUID() },
    });
    await page.goto(url('orders/' + second.id));
    await page.getByRole('heading', { level: 1, name: /Order/ }).waitFor();
    await settled();
    expect((await page.locator('h1').innerText()).includes('Pending'), 'the new order is not pending');
    await page.getByRole('button', { name: 'Mark paid' }).click();
    await page.getByText('Marked paid.').waitFor();
    await page.locator('#pay-h + dl .badge', { hasText: 'Succeeded' }).waitFor();
    await page.getByRole('button', { name: 'Cancel order…' }).click();
    await page.getByRole('button', { name: 'Yes, cancel the order' }).click();
    await page.getByText(/^Order cancelled/).waitFor();
    await page.locator('h1 .badge', { hasText: 'Cancelled' }).waitFor();
    await page.locator('#pay-h + dl .badge', { hasText: 'Refunded' }).waitFor();
  });

  if (has('/api/v1/admin/products/import')) {
    await scenario('5a. import a CSV with one bad row: the report names that row and its error; export products', async () => {
      const csv = [
        'id,title,description,price,discountPercentage,stock,brand,category,thumbnail,images,tags,sku,isActive',
        ',Imported Desk Fan,Quiet.,39.90,0,20,Breeze,home,,,fan|summer,,true',
        ',Imported Broken Row,Bad price.,-3,0,5,Breeze,home,,,,,true',
        `${productId},${productTitle} v2,Updated by import.,51.00,0,15,Testlight,lighting,,,lamp,,true`,
      ].join('\n') + '\n';
      const file = join(work, 'import.csv');
      writeFileSync(file, csv);
      await page.goto(url('products'));
      await page.getByRole('button', { name: 'Import CSV' }).click();
      await page.getByLabel('CSV file').setInputFiles(file);
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      const report = page.locator('.import-report');
      await report.waitFor();
      const text = (await report.innerText()).replace(/\s+/g, ' ');
      expect(/1 created, 1 updated, 1 refused/.test(text), `the report says: ${text}`);
      const bad = page.locator('.import-report tbody tr', { has: page.locator('th', { hasText: /^3$/ }) });
      expect(await bad.count() === 1, `the report does not list line 3: ${text}`);
      expect((await bad.innerText()).includes('price'), `line 3's error does not name the price: ${await bad.innerText()}`);
      await shot('products-import-desktop');
      if (has('/api/v1/admin/products/export')) {
        const download = page.waitForEvent('download');
        await page.getByRole('button', { name: 'Export CSV' }).click();
        const csv = readFileSync(await (await download).path(), 'utf8');
        expect(csv.startsWith('id,') && csv.includes('Imported Desk Fan') && csv.includes(`${productTitle} v2`), `the product export lacks the imported rows:\n${csv.slice(0, 300)}`);
      }
    });
  } else {
    skip('5a. CSV import', 'this shopd has no POST /api/v1/admin/products/import yet');
  }

  if (has('/api/v1/admin/orders/export')) {
    await scenario('5b. export orders: the CSV download contains the order', async () => {
      expect(order, 'no order from scenario 3');
      await page.goto(url('orders'));
      await settled();
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export CSV' }).click();
      const csv = readFileSync(await (await download).path(), 'utf8');
      expect(csv.includes(order.id) || (order.number !== undefined && csv.includes(String(order.number))), `the export does not contain order ${order.id}:\n${csv.slice(0, 400)}`);
    });
  } else {
    skip('5b. orders CSV export', 'this shopd has no GET /api/v1/admin/orders/export yet');
  }

  await scenario('6. every screen renders at phone width (375×812) without horizontal overflow; screenshots', async () => {
    const customerId = (await apiOk('POST', '/auth/login', { body: CUSTOMER })).user.id;
    const screens = [
      ['dashboard', '', 'Dashboard'],
      ['products', 'products', 'Products'],
      ['product-editor', `products/${productId || 1}`, null],
      ['product-new', 'products/new', 'New product'],
      ['orders', 'orders', 'Orders'],
      ['order-detail', `orders/${order ? order.id : ''}`, null],
      ...(has('/api/v1/admin/coupons') ? [['coupons', 'coupons', 'Coupons'], ['coupon-new', 'coupons/new', 'New coupon']] : []),
      ['customers', 'customers', 'Customers'],
      ['customer-detail', `customers/${customerId}`, null],
      ['reviews', 'reviews?product=1', 'Reviews'],
      ['audit', 'audit', 'Audit log'],
      ['jobs', 'jobs', 'Outbox jobs'],
      ...(has('/api/v1/admin/webhooks') ? [['webhooks', 'webhooks', 'Webhooks'], ['webhook-new', 'webhooks/new', 'New webhook']] : []),
      ['settings', 'settings', 'Settings'],
    ];
    const overflowing = [];
    for (const [viewport, suffix] of [[DESKTOP, 'desktop'], [PHONE, 'phone']]) {
      await page.setViewportSize(viewport);
      for (const [name, path, title] of screens) {
        await page.goto(url(path));
        await page.locator('main h1').first().waitFor();
        if (title) await heading(title).waitFor();
        await settled();
        await page.waitForTimeout(150); // images and layout
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        if (width > viewport.width) overflowing.push(`${name} at ${viewport.width} px is ${width} px wide`);
        await shot(`${name}-${suffix}`);
      }
    }
    // The phone menu opens and reaches a section.
    await page.goto(url(''));
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('link', { name: 'Orders', exact: true }).click();
    await heading('Orders').waitFor();
    expect(overflowing.length === 0, `horizontal overflow:\n${overflowing.join('\n')}`);
  });

  await scenario('7a. find a customer, deactivate and reactivate the account — in the UI', async () => {
    const email = `ui-${Date.now().toString(36)}@example.com`;
    await apiOk('POST', '/auth/register', { body: { email, password: 'Sunflower42', firstName: 'Cora', lastName: 'Test' } });
    await page.goto(url('customers'));
    await settled();
    await page.getByLabel('Search customers').fill(email);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Cora Test' }).click();
    await page.getByRole('heading', { level: 1, name: /Cora Test/ }).waitFor();
    await page.getByRole('button', { name: 'Deactivate account' }).click();
    await page.getByText('Account deactivated.').waitFor();
    await page.locator('h1 .badge', { hasText: 'Inactive' }).waitFor();
    const refused = await api('POST', '/auth/login', { body: { email, password: 'Sunflower42' } });
    expect(refused.status >= 400, `a deactivated account could still sign in (${refused.status})`);
    await page.getByRole('button', { name: 'Activate account' }).click();
    await page.getByText('Account activated.').waitFor();
    await page.locator('h1 .badge', { hasText: 'Active' }).waitFor();
  });

  await scenario('7b. dead outbox jobs show on the dashboard and can be retried', async () => {
    await page.setViewportSize(DESKTOP);
    await page.goto(url(''));
    await settled();
    const dead = page.getByRole('region', { name: 'Dead outbox jobs' });
    await dead.getByRole('link', { name: /Review and retry/ }).click();
    await heading('Outbox jobs').waitFor();
    await settled();
    const before = await page.locator('tbody tr').count();
    expect(before > 0, 'the jobs screen lists no DEAD job although the dashboard did');
    await page.getByRole('button', { name: 'Retry' }).first().click();
    await page.getByText(/job queued again\./).waitFor();
    await shot('jobs-retried-desktop');
  });

  await scenario('7c. remove a review (moderation)', async () => {
    await page.setViewportSize(DESKTOP);
    const before = await apiOk('GET', '/products/1/reviews');
    expect(before.total > 0, 'product 1 has no review to remove');
    await page.goto(url('reviews?product=1'));
    await settled();
    await page.getByRole('button', { name: 'Remove' }).first().click();
    await page.getByText(/removed\. The product is now rated/).waitFor();
    const after = await apiOk('GET', '/products/1/reviews');
    expect(after.total === before.total - 1, `reviews went from ${before.total} to ${after.total}`);
    // The shop-wide list (newest first, every product's): removable from there too.
    await page.goto(url('reviews'));
    await settled();
    const latest = page.getByRole('region', { name: 'Newest reviews' });
    await latest.waitFor();
    await shot('reviews-latest-desktop');
    const counted = async () => Number((await latest.locator('.pager').innerText()).match(/of (\d+)/)?.[1] ?? NaN);
    const total = await counted();
    expect(total > 0, 'the newest reviews list is empty');
    const first = await latest.locator('li').first().innerText();
    await latest.getByRole('button', { name: 'Remove' }).first().click();
    await page.getByText(/removed\. The product is now rated/).waitFor();
    await page.waitForFunction(([sel, n]) => document.querySelector(sel)?.textContent?.includes(`of ${n}`), ['[aria-labelledby="rv-latest"] .pager', total - 1]);
    const next = await latest.locator('li').first().innerText();
    expect(next !== first, 'the removed review is still the newest');
  });

  await scenario('7d. the shop\'s settings and logo, changed in the UI, are what the storefront sees', async () => {
    await page.setViewportSize(DESKTOP);
    await page.goto(url('settings'));
    await settled();
    await page.getByLabel('Shop name').fill('Łódź Lamps');
    await page.getByLabel('Currency').fill('PLN');
    await page.getByLabel('Timezone').fill('Mars/Base');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('.field.invalid:has(#s-timezone) .field-error').waitFor();
    await page.getByLabel('Timezone').fill('Europe/Warsaw');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    const shop = await apiOk('GET', '/shop');
    expect(shop.name === 'Łódź Lamps' && shop.currency === 'PLN' && shop.timezone === 'Europe/Warsaw', `the shop is ${JSON.stringify(shop)}`);
    const png = join(work, 'logo.png');
    writeFileSync(png, squarePng());
    await page.getByLabel('New logo').setInputFiles(png);
    await page.getByRole('img', { name: 'Preview of the new logo' }).waitFor();
    await page.getByRole('button', { name: 'Upload logo' }).click();
    await page.getByText('Logo saved.').waitFor();
    const logo = page.getByRole('img', { name: "The shop's logo" });
    await logo.waitFor();
    const loaded = await page.waitForFunction((img) => img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0,
      await logo.elementHandle(), { timeout: 10_000 }).then(() => true, () => false);
    expect(loaded, 'the uploaded logo does not load');
    const after = await apiOk('GET', '/shop');
    expect(typeof after.logoUrl === 'string' && after.logoUrl.includes('/uploads/shop/'), `the shop's logo is ${after.logoUrl}`);
    await shot('settings-desktop');
  });

  if (has('/api/v1/admin/coupons')) {
    await scenario('7e. coupons: create one in the UI (a bad value and a taken code refused beside their fields), see it in the list and on an order, schedule it, deactivate and delete it', async () => {
      await page.setViewportSize(DESKTOP);
      await page.goto(url('coupons'));
      await heading('Coupons').waitFor();
      await settled();
      // Whether the shop has coupons or not (then the empty state offers it), one link makes one.
      await page.getByRole('link', { name: 'New coupon' }).click();
      await heading('New coupon').waitFor();
      await settled();
      await page.getByLabel('Code').fill('WELCOME10');
      await page.getByLabel('Type').selectOption('PERCENT');
      await page.getByLabel('Percentage off').fill('150');
      await page.getByRole('button', { name: 'Create coupon' }).click();
      // 150 % is refused by the API: its message shows beside the value.
      const valueError = page.locator('.field.invalid:has(#c-value) .field-error');
      await valueError.waitFor();
      expect(/100/.test(await valueError.innerText()), `the value's error says: ${await valueError.innerText()}`);
      expect(await page.locator('#c-value').getAttribute('aria-invalid') === 'true', 'the refused value is not marked invalid');
      await shot('coupon-errors-desktop');
      await page.getByLabel('Percentage off').fill('10');
      await page.getByRole('button', { name: 'Create coupon' }).click();
      await page.getByText('Coupon “WELCOME10” created.').waitFor();
      const couponId = Number(new URL(page.url()).pathname.split('/').pop());
      expect(couponId > 0, `after create the URL is ${page.url()}`);

      // The same code in another case is taken: said beside the code.
      await page.goto(url('coupons/new'));
      await heading('New coupon').waitFor();
      await settled();
      await page.getByLabel('Code').fill('welcome10');
      await page.getByLabel('Type').selectOption('FREE_SHIPPING');
      expect(await page.locator('#c-value').isDisabled(), 'a free-shipping code still asks for a value');
      await page.getByRole('button', { name: 'Create coupon' }).click();
      await page.locator('.field.invalid:has(#c-code) .field-error', { hasText: 'Another coupon has this code' }).waitFor();

      await page.getByRole('link', { name: '← Coupons' }).click();
      await heading('Coupons').waitFor();
      await settled();
      const row = page.locator('table.coupons tbody tr', { has: page.locator(`a[href="/admin/coupons/${couponId}"]`) });
      await row.waitFor();
      const text = (await row.innerText()).replace(/\s+/g, ' ');
      expect(text.includes('WELCOME10') && text.includes('10 % off') && text.includes('0 / ∞') && text.includes('Any order'), `the coupon's row says: ${text}`);
      await row.locator('.badge', { hasText: /^Active$/ }).waitFor();

      // A customer's order with the code (any case): its discount shows on the order, its use in the list.
      const customer = await apiOk('POST', '/auth/login', { body: CUSTOMER });
      const placed = await apiOk('POST', '/orders', {
        token: customer.token, body: { products: [{ id: 2, quantity: 1 }], shippingAddress: ADDRESS, couponCode: 'welcome10' },
        headers: { 'Idempotency-Key': crypto.randomUUID() },
      });
      expect(placed.couponCode === 'WELCOME10' && placed.discount > 0, `the order has code ${placed.couponCode} and discount ${placed.discount}`);
      await page.goto(url('orders/' + placed.id));
      await page.getByRole('heading', { level: 1, name: /Order/ }).waitFor();
      await settled();
      const discount = await page.locator('[data-testid="discount"]').innerText();
      expect(discount.includes('WELCOME10') && discount.includes(placed.discount.toFixed(2)), `the order's discount row says: ${discount}`);
      await page.goto(url('coupons'));
      await settled();
      await row.locator('td[data-label="Used"]', { hasText: '1 / ∞' }).waitFor();

      // Scheduled from a later date, then the date cleared again (sent as null).
      await row.getByRole('link', { name: 'WELCOME10' }).click();
      await page.getByRole('heading', { level: 1, name: /WELCOME10/ }).waitFor();
      await settled();
      await page.getByLabel('Starts').fill('2099-01-01T09:30');
      let sent = page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith(`/admin/coupons/${couponId}`));
      await page.getByRole('button', { name: 'Save changes' }).click();
      const scheduled = (await sent).postDataJSON();
      expect(Object.keys(scheduled).join() === 'startsAt' && scheduled.startsAt.startsWith('2099-01-01'), `the change sent is ${JSON.stringify(scheduled)}`);
      await page.getByText('Saved.').waitFor();
      await page.locator('.badge', { hasText: 'Scheduled' }).first().waitFor();
      await page.getByLabel('Starts').fill('');
      sent = page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith(`/admin/coupons/${couponId}`));
      await page.getByRole('button', { name: 'Save changes' }).click();
      const cleared = (await sent).postDataJSON();
      expect(JSON.stringify(cleared) === '{"startsAt":null}', `clearing the start sent ${JSON.stringify(cleared)}`);
      await page.getByText('Saved.').waitFor();
      await page.waitForFunction(() => !document.querySelector('.badge-scheduled'));

      // Deactivated from the list: customers cannot enter it any more.
      await page.goto(url('coupons'));
      await settled();
      await row.getByRole('button', { name: 'Deactivate' }).click();
      await page.getByText('Coupon “WELCOME10” deactivated').waitFor();
      await row.locator('.badge', { hasText: /^Inactive$/ }).waitFor();
      await row.getByRole('button', { name: 'Activate' }).waitFor();
      const refused = await api('POST', '/cart/coupon', { token: customer.token, body: { code: 'WELCOME10' } });
      expect(refused.status === 404, `an inactive code was answered ${refused.status}: ${JSON.stringify(refused.body)}`);
      await shot('coupons-desktop');

      // Deleted after a confirmation (which takes the focus); the order keeps its discount.
      await row.getByRole('button', { name: 'Delete' }).click();
      const focused = await page.waitForFunction(() => document.activeElement?.textContent === 'Keep it', null, { timeout: 2_000 }).then(() => true, () => false);
      expect(focused, `the confirmation does not take the focus (it is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))})`);
      await row.getByRole('button', { name: 'Yes, delete' }).click();
      await page.getByText('Coupon “WELCOME10” deleted.').waitFor();
      await row.waitFor({ state: 'detached' });
      const kept = await apiOk('GET', `/orders/${placed.id}`, { token: customer.token });
      expect(kept.couponCode === 'WELCOME10' && kept.discount === placed.discount, `after the delete the order has ${kept.couponCode}, ${kept.discount}`);
    });
  } else {
    skip('7e. coupons', 'this shopd has no /api/v1/admin/coupons yet');
  }

  if (has('/api/v1/admin/webhooks')) {
    await scenario('7f. webhooks: a private URL is refused beside its field; register one (its secret shown once), send it a test event and see the delivery, deactivate and delete it', async () => {
      await page.setViewportSize(DESKTOP);
      await page.goto(url('webhooks'));
      await heading('Webhooks').waitFor();
      await settled();
      // Whether the shop has webhooks or not (then the empty state offers it), one link makes one.
      await page.getByRole('link', { name: 'New webhook' }).first().click();
      await heading('New webhook').waitFor();
      /** The app's POST of a new endpoint, to read its answer. */
      const creation = () => page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/admin/webhooks');

      // The test server keeps its default: no webhook to a private or loopback address.
      await page.getByLabel('URL', { exact: true }).fill('http://127.0.0.1:9/hook');
      await page.getByLabel('Order placed').check();
      await page.getByLabel('Payment succeeded').check();
      let answer = creation();
      await page.getByRole('button', { name: 'Create webhook' }).click();
      const refused = await answer;
      const refusedBody = await refused.json();
      expect(refused.status() === 422 && refusedBody.code === 'WEBHOOK_URL_NOT_ALLOWED', `a loopback URL was answered ${refused.status()}: ${JSON.stringify(refusedBody)}`);
      const urlError = page.locator('.field.invalid:has(#w-url) .field-error');
      await urlError.waitFor();
      const said = await urlError.innerText();
      expect(said === refusedBody.message && /loopback|private/.test(said), `beside the URL: ${said} (the API said: ${refusedBody.message})`);
      expect(await page.locator('#w-url').getAttribute('aria-invalid') === 'true', 'the refused URL is not marked invalid');
      await heading('New webhook').waitFor();
      await shot('webhook-refused-desktop');

      // A public address literal registers without the network (its tries fail to connect: fine).
      const target = 'https://93.184.215.14/hook';
      await page.getByLabel('URL', { exact: true }).fill(target);
      await page.getByLabel('All events').check();
      answer = creation();
      await page.getByRole('button', { name: 'Create webhook' }).click();
      const created = await answer;
      const made = (await created.json()).data;
      expect(created.status() === 201 && made.url === target && made.events.length === 8, `the creation was answered ${created.status()}: ${JSON.stringify(made)}`);
      await page.waitForURL((u) => u.pathname === `/admin/webhooks/${made.id}`);
      const secretBox = page.getByRole('region', { name: 'Signing secret' });
      await secretBox.waitFor();
      const secret = await secretBox.getByRole('textbox', { name: 'Signing secret' }).inputValue();
      expect(/^whsec_[A-Za-z0-9+/]+=*$/.test(secret) && secret === made.secret, `the secret box shows ${secret}, the API answered ${made.secret}`);
      expect((await secretBox.innerText()).includes('will not be shown again'), 'the secret box does not say it is shown only once');
      await shot('webhook-created-desktop');

      // The list shows the endpoint (and never a secret).
      await page.getByRole('link', { name: '← Webhooks' }).click();
      await heading('Webhooks').waitFor();
      await settled();
      const row = page.locator('table.webhooks tbody tr', { has: page.locator(`a[href="/admin/webhooks/${made.id}"]`) });
      await row.waitFor();
      const text = (await row.innerText()).replace(/\s+/g, ' ');
      expect(text.includes(target) && text.includes('All events'), `the endpoint's row says: ${text}`);
      await row.locator('.badge', { hasText: /^Active$/ }).waitFor();
      expect(!(await page.locator('main').innerText()).includes(secret), 'the list shows the secret');
      await shot('webhooks-desktop');

      // Its screen again: the secret is not shown a second time.
      await row.getByRole('link').click();
      await page.getByRole('heading', { level: 1, name: /93\.184\.215\.14/ }).waitFor();
      await settled();
      expect(await page.getByRole('region', { name: 'Signing secret' }).count() === 0, 'the secret is shown a second time');
      expect(!(await page.locator('main').innerText()).includes(secret), 'the endpoint\'s screen shows the secret again');

      // A test event: its delivery shows (pending is fine: the address cannot be reached here).
      const tested = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/admin/webhooks/${made.id}/test`));
      await page.getByRole('button', { name: 'Send test event' }).click();
      const test = await tested;
      const queued = (await test.json()).data;
      expect(test.status() === 201 && queued.event === 'webhook.test', `the test was answered ${test.status()}: ${JSON.stringify(queued)}`);
      await page.getByText('Test event queued').waitFor();
      const delivery = page.locator('table.deliveries tbody tr', { has: page.locator('code', { hasText: queued.webhookId }) });
      await delivery.waitFor();
      const said2 = (await delivery.innerText()).replace(/\s+/g, ' ');
      expect(said2.includes('webhook.test') && /Pending|Delivered/.test(said2), `the delivery's row says: ${said2}`);
      // Its tries unfold under it.
      await delivery.getByRole('button', { name: /tr(?:y|ies) of msg_/ }).click();
      await page.locator(`tr.tries-row[id="wd-${queued.id}"]`).waitFor();
      await page.getByRole('button', { name: 'Refresh' }).click();
      await delivery.waitFor();
      await shot('webhook-detail-desktop');
      await page.setViewportSize(PHONE);
      await page.waitForTimeout(150);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      await shot('webhook-detail-phone');
      await page.setViewportSize(DESKTOP);
      expect(width <= PHONE.width, `the endpoint's screen is ${width} px wide at ${PHONE.width} px`);

      // Switched off: the change sent is only that, and tests and replays are no longer offered.
      const status = page.getByRole('region', { name: 'Status' });
      const sent = page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith(`/admin/webhooks/${made.id}`));
      await status.getByRole('button', { name: 'Deactivate' }).click();
      const patch = (await sent).postDataJSON();
      expect(JSON.stringify(patch) === '{"active":false}', `deactivating sent ${JSON.stringify(patch)}`);
      await page.getByText('Webhook deactivated').waitFor();
      await page.locator('h1 .badge', { hasText: /^Inactive$/ }).waitFor();
      expect(await page.getByRole('button', { name: 'Send test event' }).isDisabled(), 'an inactive endpoint still offers a test event');

      // Deleted after a confirmation (which takes the focus): gone from the list.
      await page.getByRole('button', { name: 'Delete webhook…' }).click();
      const focused = await page.waitForFunction(() => document.activeElement?.textContent === 'Keep it', null, { timeout: 2_000 }).then(() => true, () => false);
      expect(focused, `the confirmation does not take the focus (it is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))})`);
      await page.getByRole('button', { name: 'Yes, delete' }).click();
      await heading('Webhooks').waitFor();
      await page.getByText(`Webhook to ${target} deleted.`).waitFor();
      await settled();
      expect(await page.locator(`a[href="/admin/webhooks/${made.id}"]`).count() === 0, 'the deleted endpoint is still listed');
    });
  } else {
    skip('7f. webhooks', 'this shopd has no /api/v1/admin/webhooks yet');
  }

  await scenario('8. the sign-in screen at phone width', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.setViewportSize(PHONE);
    await page.getByLabel('Email').waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    await shot('sign-in-phone');
    expect(width <= PHONE.width, `the sign-in screen is ${width} px wide at 375 px`);
  });

  await Promise.all(pending);
  await scenario(`9. every /api/v1 answer the app received matches the OpenAPI document (${answersChecked} checked; ${refreshes} token refreshes)`, async () => {
    expect(answersChecked > 20, `only ${answersChecked} answers were recorded`);
    expect(refreshes >= 3, `the app refreshed its 45 s token only ${refreshes} times in the run`);
    expect(problems.length === 0, [...new Set(problems)].join('\n'));
  });
} finally {
  await browser?.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
const skipped = results.filter((r) => r.skipped).length;
const passed = results.length - failed - skipped;
console.log(`\nscreenshots: ${SHOTS}`);
console.log(`admin-tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
