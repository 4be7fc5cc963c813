import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { extractGitHubApi } from './extract.ts';

const r = extractGitHubApi();
const ms = (c: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(c);
  return ((d.user + d.system) / 1000).toFixed(1);
};
let cpu = process.cpuUsage();
const ajv = new Ajv({
  strict: false,
  validateSchema: false,
  allErrors: true,
  inlineRefs: process.argv[2] !== 'n',
});
addFormats(ajv);
ajv.addSchema(r.document as object, 'gh');
console.log('add cpu', ms(cpu));
const ptr = (p: string, m: string, s: string) =>
  `gh#/paths/${p.replaceAll('~', '~0').replaceAll('/', '~1')}/${m}/responses/${s}/content/application~1json/schema`;
const total = process.cpuUsage();
for (const [p, m, s] of [
  ['/user', 'get', '200'],
  ['/repos/{owner}/{repo}/pulls/{pull_number}', 'get', '200'],
  ['/repos/{owner}/{repo}/pulls', 'get', '200'],
  ['/repos/{owner}/{repo}/issues/{issue_number}/comments', 'post', '201'],
  ['/repos/{owner}/{repo}/deployments', 'post', '201'],
] as const) {
  cpu = process.cpuUsage();
  const v = ajv.compile({ $ref: ptr(p, m, s) });
  const c = ms(cpu);
  cpu = process.cpuUsage();
  for (let i = 0; i < 100; i++) v({});
  console.log(m, p, s, 'compile cpu', c, 'validate x100 cpu', ms(cpu));
}
console.log('total', ms(total));
