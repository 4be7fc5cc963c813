/**
 * toss.json as written, read once for what `toss deploy` starts before the config is checked
 * (early-connect.ts, early-hash.ts): its top-level object, nothing checked yet. Undefined when
 * the file cannot be read or is not a JSON object; the config loader then says why.
 */
import { readFile } from 'node:fs/promises';
import { jsonObjectOf } from '../config/json-text.js';

export type ConfigAsWritten = Promise<Record<string, unknown> | undefined>;

export async function configAsWritten(configPath: string): ConfigAsWritten {
  const text = await readFile(configPath, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : jsonObjectOf(text);
}
