import { ensureRootfs } from './test/e2e/harness/index.js';
const t = Date.now();
console.log(process.pid, await ensureRootfs(), Date.now() - t, 'ms');
