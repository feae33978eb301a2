#!/usr/bin/env node
// Generates src/schema.d.ts from shopd's OpenAPI document with openapi-typescript.
//
//   SPEC=<file-or-url> npm run generate     write src/schema.d.ts
//   SPEC=<file-or-url> npm run gen:check    fail if src/schema.d.ts is not what SPEC generates
//
// SPEC is a path (relative to this package or absolute) or an http(s) URL. Without SPEC,
// BASE_URL (as for `npm run flow`) is used: <BASE_URL>/api/v1/openapi.json.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const target = join(root, "src", "schema.d.ts");
const check = process.argv.includes("--check");
const command = check ? "gen:check" : "generate";

function fail(message) {
  console.error(`${command}: ${message}`);
  process.exit(1);
}

function specLocation() {
  const spec = process.env.SPEC;
  if (spec !== undefined && spec !== "") {
    if (/^https?:\/\//.test(spec)) return spec;
    const file = resolve(root, spec);
    if (!existsSync(file)) fail(`SPEC=${spec}: no such file (${file})`);
    return file;
  }
  const base = process.env.BASE_URL;
  if (base !== undefined && base !== "") return `${base.replace(/\/+$/, "")}/api/v1/openapi.json`;
  fail(
    "say where the OpenAPI document is: SPEC=<file-or-url> (e.g. SPEC=http://127.0.0.1:3201/api/v1/openapi.json) " +
      "or BASE_URL=<server> (its /api/v1/openapi.json is used)",
  );
}

function generate(spec, out) {
  const require = createRequire(import.meta.url);
  const cli = join(dirname(require.resolve("openapi-typescript/package.json")), "bin", "cli.js");
  const run = spawnSync(process.execPath, [cli, spec, "--output", out], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (run.status !== 0) fail(`openapi-typescript failed on ${spec} (exit ${run.status ?? run.signal})`);
}

const spec = specLocation();
if (!check) {
  generate(spec, target);
  console.log(`generate: wrote src/schema.d.ts from ${spec}`);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "shopd-gen-check-"));
try {
  const fresh = join(dir, "schema.d.ts");
  generate(spec, fresh);
  const want = readFileSync(fresh, "utf8");
  const have = existsSync(target) ? readFileSync(target, "utf8") : null;
  if (have === want) {
    console.log(`gen:check: src/schema.d.ts is up to date with ${spec}`);
  } else {
    const wantLines = want.split("\n");
    const haveLines = have === null ? [] : have.split("\n");
    let line = 0;
    while (line < wantLines.length && wantLines[line] === haveLines[line]) line++;
    console.error(
      have === null
        ? "gen:check: src/schema.d.ts is missing."
        : `gen:check: src/schema.d.ts is out of date with ${spec} (first difference at line ${line + 1}:\n` +
            `  committed: ${haveLines[line] ?? "<end of file>"}\n` +
            `  generated: ${wantLines[line] ?? "<end of file>"})`,
    );
    console.error(`Run \`SPEC=${process.env.SPEC ?? spec} npm run generate\` and commit src/schema.d.ts.`);
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
