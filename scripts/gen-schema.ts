// Writes toss.schema.json from the zod schema; a unit test fails when the committed file is stale.
import { writeFile } from 'node:fs/promises';
import { renderJsonSchema } from '../src/config/json-schema.js';

const target = new URL('../toss.schema.json', import.meta.url);
await writeFile(target, renderJsonSchema());
console.log(`wrote ${target.pathname}`);
