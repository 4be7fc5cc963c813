// The build step of the example app: turns message.txt into the page the server sends.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const message = readFileSync(new URL('./message.txt', import.meta.url), 'utf8').trim();
mkdirSync(new URL('./build/', import.meta.url), { recursive: true });
writeFileSync(new URL('./build/body.txt', import.meta.url), `${message}\n`);
console.log(`built build/body.txt (${message.length} characters)`);
