// Checks API answers against the OpenAPI document the server itself serves: the JSON body of
// each answer must match the schema documented for its path, method and status.
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

// OpenAPI 3.0's `nullable` only widens `type` in Ajv; a nullable `allOf: [$ref]` must take null too.
function openNullable(node) {
  if (Array.isArray(node)) return node.map(openNullable);
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = openNullable(v);
  if (out.nullable === true) {
    delete out.nullable;
    return { anyOf: [{ type: 'null' }, out] };
  }
  return out;
}

const INTEGER_RANGES = {
  uint8: [0, 255], uint16: [0, 65535], uint32: [0, 4294967295], uint64: [0, Number.MAX_SAFE_INTEGER], int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

export function responseValidator(spec) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  for (const [name, [lo, hi]] of Object.entries(INTEGER_RANGES)) {
    ajv.addFormat(name, { type: 'number', validate: (n) => Number.isInteger(n) && n >= lo && n <= hi });
  }
  // Money: at most 2 decimals (checked on the number's shortest decimal form).
  ajv.addFormat('money', { type: 'number', validate: (n) => !/\.\d{3,}/.test(String(n)) });
  ajv.addFormat('double', { type: 'number', validate: () => true });
  ajv.addFormat('naive-date', /^\d{4}-\d{2}-\d{2}$/);
  ajv.addFormat('binary', () => true);
  ajv.addFormat('password', () => true);
  ajv.addSchema({ $id: 'doc', components: openNullable(spec.components ?? {}) });

  const routes = Object.entries(spec.paths).map(([template, item]) => ({
    template,
    item,
    re: new RegExp('^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+') + '$'),
    params: (template.match(/\{/g) ?? []).length,
  }));
  // A fixed segment beats a parameter (`/orders/all` before `/orders/{id}`).
  routes.sort((a, b) => a.params - b.params);
  const compiled = new Map();

  /** @returns {string | null} null when it matches, or why not */
  return function check(method, path, status, body) {
    const route = routes.find((r) => r.re.test(path));
    if (!route) return `${method} ${path}: the OpenAPI document has no such path`;
    const op = route.item[method.toLowerCase()];
    if (!op) return `${method} ${route.template}: the OpenAPI document has no ${method} for this path`;
    const answer = op.responses[String(status)] ?? op.responses.default;
    if (!answer) return `${method} ${route.template}: status ${status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`;
    const content = answer.content ?? {};
    const media = Object.keys(content).find((m) => m.includes('json'));
    if (!media) return `${method} ${route.template} ${status}: answered JSON, documented as ${Object.keys(content).join(', ') || 'no body'}`;
    const key = `${method} ${route.template} ${status}`;
    let validate = compiled.get(key);
    if (!validate) {
      const schema = JSON.parse(JSON.stringify(openNullable(content[media].schema)).replaceAll('"#/components/', '"doc#/components/'));
      validate = ajv.compile(schema);
      compiled.set(key, validate);
    }
    if (validate(body)) return null;
    const errs = validate.errors.slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    return `${key}: body does not match the documented schema: ${errs}`;
  };
}
