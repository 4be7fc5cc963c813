// ssh2's bundled wasm glue reads __dirname, which ESM lacks: define it before anything imports ssh2.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const g = globalThis as { __dirname?: string };
g.__dirname ??= dirname(fileURLToPath(import.meta.url));
