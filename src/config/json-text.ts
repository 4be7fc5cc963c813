/**
 * JSON files people edit (toss.json, package.json): the byte-order mark some editors on Windows
 * save, which JSON.parse rejects, goes first. A leaf module: what `toss deploy` reads before the
 * config schema loads (cli/config-as-written.ts) uses it too.
 */

export function withoutByteOrderMark(text: string): string {
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/** The file's top-level object, read leniently: undefined unless it is JSON and an object. */
export function jsonObjectOf(text: string): Record<string, unknown> | undefined {
  try {
    const json: unknown = JSON.parse(withoutByteOrderMark(text));
    return typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
