import { describe, expect, it } from 'vitest';
import { enterUserShellCommand } from '../../src/server/shell.js';

describe('toss ssh as the environment user', () => {
  it('drops to the user before it enters the release; directory and user are parameters', () => {
    const line = enterUserShellCommand("/srv/it's/pr-1/current", 'toss-shop_pv', false);
    expect(
      line.startsWith('sh -c \'exec setpriv --reuid="$2" --regid="$2" --init-groups --reset-env'),
    ).toBe(true);
    expect(line.endsWith(` sh '/srv/it'\\''s/pr-1/current' toss-shop_pv`)).toBe(true);
    expect(enterUserShellCommand('/srv/a/current', 'toss-a', true)).toMatch(/^sudo -n -- sh -c /);
  });

  it.each(['root; id', '', 'Toss', '-u', 'a b'])('refuses the user name %j', (user) => {
    expect(() => enterUserShellCommand('/srv/a/current', user, false)).toThrow(/invalid user/);
  });
});
