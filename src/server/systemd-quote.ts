/**
 * Quoting for systemd's own parsers (unit files and systemd-run), which are not a shell:
 * see "Quoting" in systemd.syntax(7) and "Command lines" in systemd.service(5).
 */

// C-style escapes systemd understands inside quotes; everything else below 0x20 goes as \xHH.
const C_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\v': '\\v',
};

/**
 * One ExecStart= argument, double-quoted, so systemd hands it to the program byte for byte:
 * `%` is doubled (specifiers are expanded first), `$` is doubled (variables are expanded last),
 * backslashes, quotes and control characters are C-escaped.
 */
export function systemdQuote(arg: string): string {
  if (arg.includes('\0')) throw new TypeError('a systemd argument cannot contain a NUL byte');
  let out = '';
  for (const ch of arg) {
    const code = ch.codePointAt(0) ?? 0;
    const cEscape = C_ESCAPES[ch];
    if (cEscape !== undefined) out += cEscape;
    else if (ch === '%') out += '%%';
    else if (ch === '$') out += '$$';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `"${out}"`;
}

/** A value for a plain unit setting (Description=): only specifiers are expanded there. */
export function systemdEscapeSpecifiers(value: string): string {
  if (/\p{Cc}/u.test(value)) throw new TypeError('a unit setting must be one line');
  return value.replaceAll('%', '%%');
}

/** An argv word for systemd-run: it sends argv as is, but systemd still expands `$VAR` at exec. */
export function systemdEscapeDollar(arg: string): string {
  // A function: in a replacement string, '$$' would mean one '$'.
  return arg.replaceAll('$', () => '$$');
}
