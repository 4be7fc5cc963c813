/**
 * The cache entries the fake service holds, and the lookup rules GitHub
 * documents for restoring: within each scope the run may read, in the order
 * its token lists them, an exact match of the key first, then the newest
 * entry whose key starts with the key, then the newest entry starting with
 * each restore key in turn. Only committed entries of the same version (a
 * hash of the paths and the compression) count.
 */

export interface StoredEntry {
  /** Increases with every reservation, so a higher id is a newer entry. */
  readonly id: number;
  readonly key: string;
  readonly version: string;
  /** The ref whose runs wrote the entry, such as `refs/heads/main`. */
  readonly scope: string;
  /** Name of the archive's blob in the storage container. */
  readonly blob: string;
  /** Size of the archive, known once the upload is finalized. */
  size: number | undefined;
  committed: boolean;
}

export class EntryStore {
  private readonly stored: StoredEntry[] = [];
  private lastId = 0;

  /** The entry, committed or only reserved, for this key and version in this scope. */
  find(key: string, version: string, scope: string): StoredEntry | undefined {
    return this.stored.find((e) => e.key === key && e.version === version && e.scope === scope);
  }

  reserve(key: string, version: string, scope: string): StoredEntry {
    this.lastId += 1;
    const entry: StoredEntry = {
      id: this.lastId,
      key,
      version,
      scope,
      blob: `entry-${this.lastId}`,
      size: undefined,
      committed: false,
    };
    this.stored.push(entry);
    return entry;
  }

  /** The entry a restore of `key` with `restoreKeys` gets, searching `scopes` in order. */
  match(
    scopes: readonly string[],
    key: string,
    restoreKeys: readonly string[],
    version: string,
  ): StoredEntry | undefined {
    for (const scope of scopes) {
      const candidates = this.stored
        .filter((e) => e.committed && e.version === version && e.scope === scope)
        .sort((a, b) => b.id - a.id);
      const exact = candidates.find((e) => e.key === key);
      if (exact) return exact;
      for (const prefix of [key, ...restoreKeys]) {
        const partial = candidates.find((e) => e.key.startsWith(prefix));
        if (partial) return partial;
      }
    }
    return undefined;
  }

  all(): readonly StoredEntry[] {
    return this.stored;
  }
}
