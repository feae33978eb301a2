// Starts a shopd of its own for a test run: a free port, a fresh data dir, the demo seed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** @returns {Promise<{base: string, stop: () => Promise<void>, log: () => string}>} */
export async function startShopd(bin, extraEnv = {}) {
  const binary = resolve(bin);
  if (!existsSync(binary)) throw new Error(`SHOPD_BIN=${bin}: no such file (${binary}); build shopd first (cargo build)`);
  const dataDir = mkdtempSync(join(tmpdir(), 'shopd-admin-tests-'));
  const port = await freePort();
  let output = '';
  const child = spawn(binary, ['serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...process.env, SEED_DEMO: 'true', RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((ok) => child.once('exit', ok));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`shopd exited with ${child.exitCode} before it was ready:\n${output}`);
    try {
      const r = await fetch(base + '/ready');
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`shopd was not ready within 60 s:\n${output}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    base,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
