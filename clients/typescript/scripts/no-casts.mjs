#!/usr/bin/env node
// Fails when the hand-written sources cast their way past the generated types: `x as T`,
// `<T>x`, `x!`, `any`, or a @ts-ignore / @ts-expect-error / @ts-nocheck comment.
//   npm run check:casts
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const files = ["src/client.ts", "src/flow.ts"];
const problems = [];

for (const file of files) {
  const path = join(root, file);
  const text = readFileSync(path, "utf8");
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const report = (node, what) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    problems.push(`${relative(root, path)}:${line + 1}:${character + 1}: ${what}: ${node.getText(source).slice(0, 80)}`);
  };
  const visit = (node) => {
    if (ts.isAsExpression(node)) report(node, "cast (as)");
    else if (ts.isTypeAssertionExpression(node)) report(node, "cast (<T>)");
    else if (ts.isNonNullExpression(node)) report(node, "non-null assertion (!)");
    else if (node.kind === ts.SyntaxKind.AnyKeyword) report(node, "any");
    ts.forEachChild(node, visit);
  };
  visit(source);
  text.split("\n").forEach((line, i) => {
    if (/@ts-(ignore|expect-error|nocheck)/.test(line)) problems.push(`${file}:${i + 1}: ${line.trim()}`);
  });
}

if (problems.length > 0) {
  console.error(`check:casts: ${problems.length} escape(s) from the generated types:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`check:casts: no casts, non-null assertions, any or @ts- comments in ${files.join(", ")}`);
