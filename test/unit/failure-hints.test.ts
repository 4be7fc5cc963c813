/**
 * Why a release failed its health check, read from journals as node, python, ruby, sh and go
 * write them (through journalctl --output=short-iso), and from what its processes listened on.
 * Then the evidence itself: the listener lines the server prints, and the round trip that gathers
 * them, run on this machine.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  type Diagnosis,
  diagnoseHealthFailure,
  type ListenerSeen,
} from '../../src/pipeline/failure-hints.js';
import {
  checkInstanceHealth,
  explainHealthFailure,
  journalSince,
} from '../../src/pipeline/health.js';
import type { RunResult, Server } from '../../src/pipeline/server.js';
import { parseUnitListeners, unitListenersArgv } from '../../src/server/port-owner.js';

const PORT = 3001;
const UNIT = `toss-shop-production@${PORT}.service`;

/** Journal lines as journalctl prints them: app output (through env) and systemd's own. */
function journal(appLines: string[], exits = 1): string {
  const app = appLines.map((line) => `2025-03-01T10:00:01+0000 web env[812]: ${line}`);
  const systemd = Array.from({ length: exits }, () => [
    `2025-03-01T10:00:01+0000 web systemd[1]: ${UNIT}: Main process exited, code=exited, status=1/FAILURE`,
    `2025-03-01T10:00:01+0000 web systemd[1]: ${UNIT}: Failed with result 'exit-code'.`,
    `2025-03-01T10:00:02+0000 web systemd[1]: ${UNIT}: Scheduled restart job, restart counter is at 1.`,
  ]).flat();
  return [
    `2025-03-01T10:00:00+0000 web systemd[1]: Started toss shop production on port ${PORT}.`,
    ...app,
    ...systemd,
  ].join('\n');
}

function diagnose(
  appLines: string[],
  options: { listeners?: ListenerSeen[]; readOnly?: boolean; exits?: number } = {},
): Diagnosis {
  return diagnoseHealthFailure({
    journal: journal(appLines, options.exits),
    listeners: options.listeners ?? [],
    port: PORT,
    readOnly: options.readOnly,
  });
}

const listener = (address: string): ListenerSeen => ({
  address,
  port: Number(/:([0-9]+)$/.exec(address)?.[1]),
});

describe('a release that cannot write where it tries to', () => {
  const NODE_EROFS = [
    'node:fs:581',
    '  return binding.open(',
    '                 ^',
    '',
    "Error: EROFS: read-only file system, open '/var/lib/shop/orders.json'",
    '    at Object.openSync (node:fs:581:18)',
    '    at Object.writeFileSync (node:fs:2313:35)',
    '    at file:///srv/shop/production/releases/20250301T100000Z-ab12/server.js:4:1',
    '  errno: -30,',
    "  syscall: 'open',",
    "  code: 'EROFS',",
    "  path: '/var/lib/shop/orders.json'",
    '}',
    '',
    'Node.js v20.11.1',
  ];

  it('node: EROFS, the path from the message even though the code comes later', () => {
    const { cause, fix } = diagnose(NODE_EROFS);
    expect(cause).toBe('it could not write /var/lib/shop/orders.json: read-only file system');
    expect(fix).toContain('"persistentDirs"');
    expect(fix).toContain('instead of /var/lib/shop/orders.json');
    // Releases are writable by default: nothing about readOnly unless toss.json sets it.
    expect(fix).not.toContain('"readOnly": true');
    expect(fix).toContain('in its release directory');
  });

  it('node: a recursive mkdir on a read-only file system, which Node reports as ENOENT', () => {
    const { cause, fix } = diagnose([
      'node:fs:1391',
      "Error: ENOENT: no such file or directory, mkdir '/var/lib/shop'",
      '    at mkdirSync (node:fs:1391:3)',
      "  errno: -2, syscall: 'mkdir', code: 'ENOENT', path: '/var/lib/shop'",
    ]);
    expect(cause).toBe('it could not write /var/lib/shop: no such file or directory');
    expect(fix).toContain('"persistentDirs"');
    // The same for a directory in its working directory, a release toss.json made read-only.
    const relative = diagnose(["Error: ENOENT: no such file or directory, mkdir 'tmp'"], {
      readOnly: true,
    });
    expect(relative.cause).toBe('it could not write tmp: no such file or directory');
    expect(relative.fix).toContain('"persistentDirs"');
    // A file the app only reads and lacks is another matter.
    expect(
      diagnose(["Error: ENOENT: no such file or directory, open '/srv/x/config.json'"]).cause,
    ).toContain('listened on no port');
  });

  it('node: EACCES on mkdir', () => {
    const { cause } = diagnose([
      "Error: EACCES: permission denied, mkdir '/var/lib/shop'",
      "  errno: -13, code: 'EACCES', syscall: 'mkdir', path: '/var/lib/shop'",
    ]);
    expect(cause).toBe('it could not write /var/lib/shop: permission denied');
  });

  it('python: PermissionError and OSError [Errno 30], with readOnly set in toss.json', () => {
    const permission = diagnose([
      'Traceback (most recent call last):',
      '  File "/srv/shop/production/releases/20250301T100000Z-ab12/app.py", line 5, in <module>',
      "    db = sqlite3.connect('/var/lib/shop/app.db')",
      "PermissionError: [Errno 13] Permission denied: '/var/lib/shop/app.db'",
    ]);
    expect(permission.cause).toBe('it could not write /var/lib/shop/app.db: permission denied');

    const readOnly = diagnose(
      [
        '  File "/usr/lib/python3.11/os.py", line 225, in makedirs',
        '    mkdir(name, mode)',
        "OSError: [Errno 30] Read-only file system: 'uploads'",
      ],
      { readOnly: true },
    );
    expect(readOnly.cause).toBe('it could not write uploads: read-only file system');
    expect(readOnly.fix).toContain('"persistentDirs"');
    expect(readOnly.fix).toContain('toss.json sets "readOnly": true');
    expect(readOnly.fix).toContain('remove "readOnly"');
  });

  it('python: SQLite says so without a path', () => {
    const { cause, fix } = diagnose([
      'sqlite3.OperationalError: attempt to write a readonly database',
    ]);
    expect(cause).toBe('it could not write a file: read-only file system');
    expect(fix).toContain('"persistentDirs"');
    expect(fix).not.toContain(' instead of ');
  });

  it('ruby: Errno::EROFS and Errno::EACCES', () => {
    expect(
      diagnose([
        "/srv/shop/production/slots/3001/config.ru:3:in 'File#initialize': Read-only file system @ rb_sysopen - /var/lib/shop/cache.txt (Errno::EROFS)",
        "\tfrom /srv/shop/production/slots/3001/config.ru:3:in 'IO.open'",
      ]).cause,
    ).toBe('it could not write /var/lib/shop/cache.txt: read-only file system');
    expect(
      diagnose([
        "/usr/lib/ruby/3.1.0/fileutils.rb:243:in `mkdir': Permission denied @ dir_s_mkdir - /var/lib/shop (Errno::EACCES)",
      ]).cause,
    ).toBe('it could not write /var/lib/shop: permission denied');
  });

  it('sh and coreutils, go and java', () => {
    const said = (line: string) => diagnose([line]).cause;
    expect(said('/bin/sh: 1: cannot create /var/lib/shop/app.pid: Read-only file system')).toBe(
      'it could not write /var/lib/shop/app.pid: read-only file system',
    );
    expect(said("mkdir: cannot create directory '/var/lib/shop': Read-only file system")).toBe(
      'it could not write /var/lib/shop: read-only file system',
    );
    expect(said("touch: cannot touch '/var/lib/shop/x': Permission denied")).toBe(
      'it could not write /var/lib/shop/x: permission denied',
    );
    expect(said('panic: open /var/lib/shop/data.db: read-only file system')).toBe(
      'it could not write /var/lib/shop/data.db: read-only file system',
    );
    expect(
      said(
        'Exception in thread "main" java.io.FileNotFoundException: /var/lib/shop/app.log (Read-only file system)',
      ),
    ).toBe('it could not write /var/lib/shop/app.log: read-only file system');
  });

  it('a database refusing a table is not a file it could not write', () => {
    const { cause } = diagnose([
      'error: permission denied for table orders',
      '    at Parser.parseErrorMessage (/srv/shop/production/slots/3001/node_modules/pg-protocol/dist/parser.js:287:98) {',
      "  code: '42501',",
    ]);
    expect(cause).not.toContain('could not write');
    expect(cause).toContain('listened on no port');
  });
});

describe('a release that does not listen on its port', () => {
  it('names what it listened on instead, and the port it was given', () => {
    const { cause, fix } = diagnose(['Listening on http://0.0.0.0:8000'], {
      listeners: [listener('0.0.0.0:8000')],
      exits: 0,
    });
    expect(cause).toBe(
      'it was given PORT=3001 (with HOST=127.0.0.1) but listened on 0.0.0.0:8000 instead',
    );
    expect(fix).toContain('$PORT');
    expect(fix).toContain('$HOST');
  });

  it('its own port on an address 127.0.0.1 does not reach is no answer either', () => {
    const { cause } = diagnose(['ready on http://localhost:3001'], {
      listeners: [listener('[::1]:3001'), listener('127.0.0.1:9229')],
      exits: 0,
    });
    expect(cause).toBe(
      'it was given PORT=3001 (with HOST=127.0.0.1) but listened on [::1]:3001, 127.0.0.1:9229 instead',
    );
  });

  it('where it listened wins over an error it logged and survived', () => {
    const { cause } = diagnose(["Error: EROFS: read-only file system, open '/var/cache/x'"], {
      listeners: [listener('*:8000')],
      exits: 0,
    });
    expect(cause).toContain('listened on *:8000 instead');
  });

  it('listened on nothing: and kept exiting, or stayed up silent', () => {
    const crashed = diagnose(['TypeError: Cannot read properties of undefined'], { exits: 3 });
    expect(crashed.cause).toBe(
      'it was given PORT=3001 (with HOST=127.0.0.1) but listened on no port: it exited 3 times (last status 1/FAILURE)',
    );
    expect(crashed.fix).toContain('fix what makes it exit');

    const silent = diagnose(['connecting to the database…'], { exits: 0 });
    expect(silent.cause).toBe(
      'it was given PORT=3001 (with HOST=127.0.0.1) but listened on no port',
    );
    expect(silent.fix).toContain('$PORT');
  });

  it('a bind the server refused, or a port in use, from node, python, ruby and go', () => {
    const cases: Array<[string, string]> = [
      ['Error: listen EPERM: operation not permitted 0.0.0.0:8000', '0.0.0.0:8000'],
      ['Error: listen EADDRINUSE: address already in use :::8000', ':::8000'],
      [
        "ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use",
        '0.0.0.0:8000',
      ],
      [
        "[2025-03-01 10:00:01 +0000] [812] [ERROR] Can't connect to ('0.0.0.0', 8000)",
        '0.0.0.0:8000',
      ],
      [
        'Errno::EADDRINUSE: Address already in use - bind(2) for "0.0.0.0" port 9292',
        '0.0.0.0:9292',
      ],
      ['listen tcp :8080: bind: permission denied', ':8080'],
    ];
    for (const [line, address] of cases) {
      const { cause, fix } = diagnose([line]);
      expect(cause, line).toContain(
        `PORT=3001 (with HOST=127.0.0.1) but tried to listen on ${address}`,
      );
      expect(fix, line).toContain('$PORT');
    }
    expect(diagnose(['Error: listen EPERM: operation not permitted 0.0.0.0:8000']).cause).toContain(
      'which the server does not allow',
    );
    expect(diagnose(['OSError: [Errno 98] Address already in use']).cause).toContain(
      'tried to listen on a port of its own, which another process holds',
    );
  });

  it('listening on its port, it answered the check wrongly', () => {
    const { cause, fix } = diagnose(['GET /up 500'], {
      listeners: [listener('127.0.0.1:3001')],
      exits: 0,
    });
    expect(cause).toContain('it listens on 127.0.0.1:3001, but its answer did not pass');
    expect(fix).toContain('healthCheck.path');
  });

  it('listening on its port, a write error it logged is the likely reason', () => {
    const { cause } = diagnose(
      ["PermissionError: [Errno 13] Permission denied: '/var/lib/shop/db'"],
      {
        listeners: [listener('0.0.0.0:3001')],
        exits: 0,
      },
    );
    expect(cause).toBe('it could not write /var/lib/shop/db: permission denied');
  });
});

describe('a start command whose program is missing', () => {
  const cases: Array<[string, string]> = [
    ['/bin/sh: 1: gunicorn: not found', 'gunicorn'],
    ['sh: 1: gunicorn: not found', 'gunicorn'],
    ['/bin/sh: 1: exec: node: not found', 'node'],
    ['node: not found', 'node'],
    ['bash: line 1: bundle: command not found', 'bundle'],
    ["/usr/bin/env: 'python3': No such file or directory", 'python3'],
    ['/usr/bin/env: ‘node’: No such file or directory', 'node'],
    ['exec: "python3": executable file not found in $PATH', 'python3'],
    ['Error: spawn ffmpeg ENOENT', 'ffmpeg'],
    ['bundler: command not found: puma', 'puma'],
  ];

  it('names the program; the fix is dependencies, or build for what the build makes', () => {
    for (const [line, program] of cases) {
      const { cause, fix } = diagnose(['> shop@1.0.0 start', line]);
      expect(cause, line).toBe(
        `\`${program}\` is not installed on the server: the start command could not run it`,
      );
      expect(fix, line).toContain(`"dependencies", like {"${program}":`);
      expect(fix, line).toContain('"build" option');
    }
  });

  it('a path the release lacks: the build should make it', () => {
    for (const line of [
      'bash: ./bin/server: No such file or directory',
      '/bin/sh: 1: ./bin/server: not found',
    ]) {
      const { cause, fix } = diagnose([line]);
      expect(cause, line).toBe(
        '`./bin/server` is not in the release: the start command could not run it',
      );
      expect(fix.indexOf('"build" option'), line).toBeLessThan(fix.indexOf('"dependencies"'));
    }
  });

  it('a script that is not executable', () => {
    const { cause, fix } = diagnose(['/bin/sh: 1: ./start.sh: Permission denied']);
    expect(cause).toBe('`./start.sh` is not executable: the start command could not run it');
    expect(fix).toContain('git update-index --chmod=+x ./start.sh');
    expect(fix).not.toContain('persistentDirs');
  });

  it('the newest cause wins over an older one in the same journal', () => {
    const { cause } = diagnose([
      "Error: EROFS: read-only file system, open '/var/lib/shop/x'",
      '/bin/sh: 1: gunicorn: not found',
    ]);
    expect(cause).toContain('`gunicorn` is not installed');
  });
});

describe('the evidence', () => {
  it('parses listener lines, one per socket, whatever else surrounds them', () => {
    const output = [
      'toss: nothing accepted a connection on 127.0.0.1:3001 within 30 s',
      'listener 0.0.0.0:8000\t812\tgunicorn',
      'listener 0.0.0.0:8000\t813\tgunicorn',
      'listener [::1]:9229\t812\tnode',
      'pointed 1740823200',
    ].join('\n');
    expect(parseUnitListeners(output)).toEqual([
      { address: '0.0.0.0:8000', port: 8000, pid: 812, command: 'gunicorn' },
      { address: '[::1]:9229', port: 9229, pid: 812, command: 'node' },
    ]);
  });

  it('the listener script runs on this machine and finds nothing of a unit that is not there', () => {
    const argv = unitListenersArgv('toss-nothing-here@3999.service');
    const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(parseUnitListeners(result.stdout)).toEqual([]);
    expect(() => unitListenersArgv('x; reboot')).toThrow(/invalid unit/);
  });

  it('one round trip gathers the check, the listeners and the slot time; older lines go', async () => {
    const calls: string[][] = [];
    const stale = [
      // The release before, on the same port, an hour earlier.
      "2025-03-01T09:00:00+0000 web env[700]: Error: EROFS: read-only file system, open '/var/lib/x'",
      '2025-03-01T09:00:00+0000 web env[700]:     at Object.openSync (node:fs:581:18)',
    ];
    const fresh = [
      `2025-03-01T10:00:00+0000 web systemd[1]: Started toss shop production on port ${PORT}.`,
      '2025-03-01T10:00:01+0000 web env[812]: Listening on 0.0.0.0:8000',
    ];
    const session = fakeSession(calls, (argv) =>
      argv[0] === 'journalctl'
        ? reply(0, `${[...stale, ...fresh].join('\n')}\n`)
        : reply(
            1,
            '',
            [
              `toss: nothing accepted a connection on 127.0.0.1:${PORT} within 30 s`,
              'listener 0.0.0.0:8000\t812\tnode',
              // 2025-03-01T10:00:00Z: the slot was pointed at the new release then.
              'pointed 1740823200',
              '',
            ].join('\n'),
          ),
    );
    const failure = await checkInstanceHealth(session, {
      app: 'shop',
      environment: 'production',
      port: PORT,
    });
    expect(calls).toHaveLength(2);
    expect(calls[0]!.join(' ')).toContain(UNIT);
    expect(calls[1]).toContain(`--unit=${UNIT}`);
    expect(failure).toEqual({
      unit: UNIT,
      port: PORT,
      check: `toss: nothing accepted a connection on 127.0.0.1:${PORT} within 30 s`,
      journal: fresh.join('\n'),
      listeners: [{ address: '0.0.0.0:8000', port: 8000, pid: 812, command: 'node' }],
    });

    const { details, fix } = explainHealthFailure(failure!, { readOnly: false });
    expect(details.split('\n')).toEqual([
      'it was given PORT=3001 (with HOST=127.0.0.1) but listened on 0.0.0.0:8000 instead.',
      `toss: nothing accepted a connection on 127.0.0.1:${PORT} within 30 s`,
      `--- last 30 lines of ${UNIT} ---`,
      ...fresh,
    ]);
    expect(fix).toContain('$PORT');
  });

  it('the journal is cut where the slot was pointed, whatever the offset; the error shows 30 lines', () => {
    const lines = [
      '2025-03-01T10:59:59+0100 web env[1]: before',
      '    a continuation of the line before',
      '2025-03-01T11:00:00+0100 web env[2]: at the second',
      '    a continuation of it',
      '2025-03-01T10:00:01Z web env[3]: after',
    ];
    expect(journalSince(lines.join('\n'), 1740823200).split('\n')).toEqual(lines.slice(2));
    expect(journalSince(lines.join('\n'), undefined).split('\n')).toEqual(lines);

    const long = Array.from(
      { length: 100 },
      (_, i) => `2025-03-01T10:00:01+0000 web env[812]: line ${i}`,
    ).join('\n');
    const { details } = explainHealthFailure(
      { unit: UNIT, port: PORT, check: 'toss: …', journal: long, listeners: [] },
      { readOnly: false },
    );
    expect(details).toContain('line 99');
    expect(details).toContain('line 70');
    expect(details).not.toContain('line 69');
  });

  it('the combined script runs for real: a port nobody answers fails, with no stray output', async () => {
    const calls: string[][] = [];
    const session = fakeSession(calls, (argv) => {
      if (argv[0] === 'journalctl') return reply(0, '-- No entries --\n');
      const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
      return reply(result.status ?? -1, result.stdout, result.stderr);
    });
    const failure = await checkInstanceHealth(session, {
      app: 'shop',
      environment: 'production',
      port: 1,
      healthCheck: { path: '/up', timeout: 1 },
    });
    expect(failure?.check).toMatch(
      /^toss: http:\/\/127\.0\.0\.1:1\/up did not answer with 2xx or 3xx within 1 s: curl: /,
    );
    expect(failure?.listeners).toEqual([]);
    // No slot here, so no time to cut the journal at: all of it stays.
    expect(failure?.journal).toBe('-- No entries --');
  }, 15_000);
});

function reply(code: number, stdout: string, stderr = ''): RunResult {
  return { code, stdout, stderr, signal: null };
}

function fakeSession(calls: string[][], run: (argv: readonly string[]) => RunResult): Server {
  return {
    root: async (argv: readonly string[]) => {
      calls.push([...argv]);
      return run(argv);
    },
  } as unknown as Server;
}
