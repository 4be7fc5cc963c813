import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';

// examples/notes is what users copy for a database: its files must at least be valid.
const dir = join(import.meta.dirname, '../../examples/notes');

describe('examples/notes', () => {
  it('has a toss.json with a database whose seed is in the example', () => {
    const file = join(dir, 'toss.json');
    const config = parseConfigText(readFileSync(file, 'utf8'), file);
    expect(config.database).toEqual({ engine: 'postgres', seed: 'db/seed.sql' });
    expect(config.deployScript).toEqual(['python3 db/migrate.py']);
    expect(readFileSync(join(dir, 'db/seed.sql'), 'utf8')).toMatch(/CREATE TABLE notes/);
  });

  it('has Python that compiles', () => {
    // The bytecode goes to a temporary directory, not next to the example's files.
    const cache = mkdtempSync(join(tmpdir(), 'toss-notes-pyc-'));
    try {
      execFileSync('python3', ['-m', 'py_compile', 'app.py', 'db/migrate.py'], {
        cwd: dir,
        env: { ...process.env, PYTHONPYCACHEPREFIX: cache },
        stdio: 'pipe',
      });
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
