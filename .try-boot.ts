import { bootHosts, shutdownAll } from './test/e2e/harness/index.js';
const t = Date.now();
const hosts = await bootHosts(Number(process.argv[2] ?? 1));
console.log('booted in', Date.now() - t);
for (const h of hosts) {
  console.log(h.name, h.ip, h.bootMs, h.knownHostsLine);
  console.log(await h.exec(['systemctl', 'is-system-running']));
  console.log(await h.exec(['cat'], { input: 'hello stdin' }));
}
const t2 = Date.now();
await shutdownAll();
console.log('shutdown in', Date.now() - t2);
