/**
 * toss.json as written, read once for what `toss deploy` starts before the config is checked
 * (early-connect.ts, early-hash.ts): its top-level object, nothing checked yet. Undefined when
 * the file cannot be read or is not a JSON object; the config loader then says why.
 */
import { readFile } from 'node:fs/promises';

export type ConfigAsWritten = Promise<Record<string, unknown> | undefined>;

export async function configAsWritten(configPath: string): ConfigAsWritten {
  try {
    const text = await readFile(configPath, 'utf8');
    // A byte-order mark (editors on Windows) is dropped, as the config loader does.
    const json: unknown = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
    return typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
