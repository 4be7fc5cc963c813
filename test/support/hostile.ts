/**
 * Hostile input generators: strings that would create a canary file if any shell,
 * systemd or Caddy ever evaluated them, mixed with quotes, newlines, NULs, unicode and
 * 1,000-character strings.
 */
import fc from 'fast-check';

/** Payloads that `touch <canary>` if evaluated by sh (in any quoting context we could break out of). */
export function canaryPayloads(canary: string): string[] {
  const t = `touch ${canary}`;
  return [
    `$(${t})`,
    `\`${t}\``,
    `;${t};`,
    `; ${t} #`,
    `'; ${t}; '`,
    `'$(${t})'`,
    `"; ${t}; "`,
    `"$(${t})"`,
    `\n${t}\n`,
    `\r\n${t}\r\n`,
    `|${t}`,
    `&& ${t}`,
    `|| ${t}`,
    `& ${t} &`,
    `$((0))$(${t})`,
    `\${IFS}${t}`,
    `\\'; ${t}; #`,
    `'\\''; ${t}; '\\''`,
    `%n%i%%$(${t})`,
    `$$(${t})`,
    `\`\`$(${t})`,
    `{ ${t}; }`,
    `<(${t})`,
    `>(${t})`,
    `}\nimport ${canary}\n{`,
    `"\n${t}\n"`,
    `\\\n${t}`,
    `-e ${t}`,
    `--${t}`,
    `*; ${t}`,
  ];
}

const metaChars = fc.constantFrom(
  ...`$\`'"\\;|&<>(){}[]*?!#~=%^ \t\n\r\v\f-+.,:/@`.split(''),
  '\u00e9',
  '\u2028',
  '\u{1F600}',
  '\u202e',
  '\ufeff',
  '\u0085',
  '\u00a0',
);

/** Any string of these kinds (NUL only when `nul`). */
export function hostileString(
  canary: string,
  options: { nul?: boolean } = {},
): fc.Arbitrary<string> {
  const payload = fc.constantFrom(...canaryPayloads(canary));
  const parts = fc.oneof(
    payload,
    fc.string({ unit: metaChars, maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.string({ maxLength: 12 }),
    ...(options.nul ? [fc.constant('\0')] : []),
  );
  const mixed = fc.array(parts, { minLength: 1, maxLength: 6 }).map((a) => a.join(''));
  const long = fc
    .tuple(fc.string({ unit: metaChars, minLength: 1, maxLength: 3 }), payload)
    .map(([pad, p]) => {
      const unit = pad + p;
      return unit.repeat(Math.ceil(1000 / unit.length)).slice(0, 1000);
    });
  const arbitrary = fc.oneof(
    { arbitrary: mixed, weight: 6 },
    { arbitrary: payload, weight: 2 },
    { arbitrary: long, weight: 1 },
    { arbitrary: fc.string({ unit: 'binary', minLength: 1000, maxLength: 1000 }), weight: 1 },
  );
  if (!options.nul) return arbitrary.map((s) => s.replaceAll('\0', ''));
  return arbitrary;
}

/** A git-branch-like name: path segments of hostile characters (validity checked by git later). */
export function branchLike(canary: string): fc.Arbitrary<string> {
  return fc.oneof(
    hostileString(canary),
    fc
      .array(
        fc.oneof(
          fc.string({ unit: metaChars, minLength: 1, maxLength: 8 }),
          fc.string({ minLength: 1, maxLength: 8 }),
          fc.constantFrom('feature', 'fix', 'PR-12', 'Production', 'pr-3', 'ü', 'x'.repeat(80)),
        ),
        {
          minLength: 1,
          maxLength: 4,
        },
      )
      .map((a) => a.join('/')),
  );
}
