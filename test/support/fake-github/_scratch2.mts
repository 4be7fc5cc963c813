import addFormats from 'ajv-formats';
import { OpenAPIBackend } from 'openapi-backend';
import { extractGitHubApi } from './extract.ts';

const r = extractGitHubApi();
const ms = (c: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(c);
  return ((d.user + d.system) / 1000).toFixed(1);
};
let cpu = process.cpuUsage();
const api = new OpenAPIBackend({
  definition: r.document as never,
  validate: true,
  quick: true,
  ajvOpts: { validateSchema: false, allErrors: process.argv[2] === 'a' },
  customizeAjv: (ajv) => {
    addFormats(ajv);
    return ajv;
  },
});
await api.init();
console.log('init cpu', ms(cpu));
const total = process.cpuUsage();
for (const [op, st] of [
  ['users/get-authenticated', 200],
  ['pulls/get', 200],
  ['pulls/list', 200],
  ['issues/create-comment', 201],
  ['repos/create-deployment', 201],
] as const) {
  cpu = process.cpuUsage();
  api.validateResponse({}, op, st);
  const c = ms(cpu);
  cpu = process.cpuUsage();
  for (let i = 0; i < 100; i++) api.validateResponse({}, op, st);
  console.log(op, st, 'compile cpu', c, 'validate x100', ms(cpu));
}
console.log('total', ms(total));
