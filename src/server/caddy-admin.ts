/**
 * Caddy's admin endpoint, for root and the caddy user only. Debian's Caddy 2.6 listens for its
 * admin API on localhost:2019 without authentication, so any local process (a preview's app or
 * its deployScript) could rewrite every site. toss moves the endpoint to a Unix socket in a
 * directory only caddy can enter: the Caddyfile's global `admin` option names the socket (Caddy
 * 2.6 has no other setting for it: it ignores a CADDY_ADMIN environment variable), and a systemd
 * drop-in makes systemd create that directory, mode 0700 and owned by caddy, whenever Caddy
 * starts. `caddy reload` (Debian's ExecReload) reads the address from the same Caddyfile, so
 * `systemctl reload caddy` keeps working.
 */
import { TossError } from '../errors.js';
import { CADDYFILE } from './paths.js';

/** The directory systemd creates for Caddy (RuntimeDirectory=caddy): caddy's, mode 0700. */
export const CADDY_ADMIN_DIR = '/run/caddy';
export const CADDY_ADMIN_SOCKET = `${CADDY_ADMIN_DIR}/admin.sock`;
/** The address as Caddy's `admin` option spells a Unix socket. */
export const CADDY_ADMIN_ADDRESS = `unix/${CADDY_ADMIN_SOCKET}`;
export const CADDY_ADMIN_DROPIN = '/etc/systemd/system/caddy.service.d/toss-admin.conf';

/** The drop-in's text, without a final newline (the apply script compares and writes it so). */
export function caddyAdminDropIn(): string {
  return [
    '# Written by toss: the directory of the Caddy admin socket (see the admin option in',
    `# ${CADDYFILE}), which only root and the caddy user can enter.`,
    '[Service]',
    'RuntimeDirectory=caddy',
    'RuntimeDirectoryMode=0700',
  ].join('\n');
}

interface Token {
  text: string;
  line: number;
  /** quoted tokens are never braces */
  quoted: boolean;
  /** the first token on its line: a directive's name inside a block */
  first: boolean;
}

/**
 * Caddyfile tokens as Caddy 2.6's lexer reads them: whitespace-separated, `"…"` and `` `…` ``
 * quoting, `#` starting a comment only at the start of a token. Enough to find blocks and the
 * directives in them; what the tokens mean is Caddy's business.
 */
export function caddyfileTokens(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let lastLine = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      i = lineEnd(text, i);
      continue;
    }
    const lexeme = c === '"' || c === '`' ? readQuoted(text, i) : readBare(text, i);
    tokens.push({ text: lexeme.value, line, quoted: lexeme.quoted, first: line !== lastLine });
    line += lexeme.newlines;
    lastLine = line;
    i = lexeme.end;
  }
  return tokens;
}

/** One token as read from the text: its value, the index just past it and the newlines inside it. */
interface Lexeme {
  value: string;
  quoted: boolean;
  end: number;
  newlines: number;
}

/** The index of the newline that ends the line holding `at`, or the text's length on the last line. */
function lineEnd(text: string, at: number): number {
  const newline = text.indexOf('\n', at);
  return newline === -1 ? text.length : newline;
}

/** A `"…"` or `` `…` `` token starting at `at`; only `"` quoting knows the `\"` escape. */
function readQuoted(text: string, at: number): Lexeme {
  const quote = text[at];
  let value = '';
  let newlines = 0;
  let i = at + 1;
  while (i < text.length && text[i] !== quote) {
    if (quote === '"' && text[i] === '\\' && text[i + 1] === '"') i++;
    if (text[i] === '\n') newlines++;
    value += text[i];
    i++;
  }
  // Past the closing quote (or the end of an unterminated token).
  return { value, quoted: true, end: i + 1, newlines };
}

/** An unquoted token starting at `at`: everything up to the next whitespace. */
function readBare(text: string, at: number): Lexeme {
  let i = at;
  while (i < text.length && !/\s/.test(text[i] as string)) i++;
  return { value: text.slice(at, i), quoted: false, end: i, newlines: 0 };
}

/** The `admin` option of the Caddyfile's global options block: its arguments, or undefined. */
export function globalAdminOption(caddyfile: string): string[] | undefined {
  const tokens = caddyfileTokens(caddyfile);
  if (!isBrace(tokens[0], '{')) return undefined;
  let depth = 1;
  for (let i = 1; i < tokens.length && depth > 0; i++) {
    const t = tokens[i] as Token;
    if (isBrace(t, '{')) depth++;
    else if (isBrace(t, '}')) depth--;
    else if (depth === 1 && isDirective(t, 'admin')) return lineArguments(tokens, i);
  }
  return undefined;
}

/** An unquoted `{` or `}`: quoted braces are plain text. */
function isBrace(token: Token | undefined, brace: '{' | '}'): boolean {
  return token !== undefined && !token.quoted && token.text === brace;
}

/** Whether `token` names the directive `name`: unquoted and first on its line. */
function isDirective(token: Token, name: string): boolean {
  return token.first && !token.quoted && token.text === name;
}

/** The tokens after `tokens[at]` on its line, up to a block's opening brace. */
function lineArguments(tokens: Token[], at: number): string[] {
  const line = tokens[at]?.line;
  const args: string[] = [];
  for (let j = at + 1; j < tokens.length && tokens[j]?.line === line; j++) {
    const arg = tokens[j] as Token;
    if (isBrace(arg, '{')) break;
    args.push(arg.text);
  }
  return args;
}

const ADMIN_LINES = [
  "\t# toss: Caddy's admin endpoint, reachable only by root and the caddy user.",
  `\tadmin ${CADDY_ADMIN_ADDRESS}`,
];

/**
 * The user's Caddyfile with the admin endpoint on toss's socket: the `admin` line goes first
 * into the global options block (one is added at the top when there is none); every other byte
 * stays. A Caddyfile that sets its own admin address is refused: toss cannot tell who may reach it.
 */
export function ensureAdminSocket(caddyfile: string): { text: string; changed: boolean } {
  const current = globalAdminOption(caddyfile);
  if (current !== undefined) {
    if (current[0] === CADDY_ADMIN_ADDRESS) return { text: caddyfile, changed: false };
    const shown = current.length ? current.join(' ') : '(no address: localhost:2019)';
    throw new TossError(
      `${CADDYFILE} sets Caddy's admin endpoint to ${shown}; toss needs it on the Unix socket ${CADDY_ADMIN_SOCKET}, where only root and the caddy user can reach it (on a TCP address any local process, a preview's app included, can reconfigure Caddy)`,
      {
        hint: `remove the \`admin\` line from the global options block of ${CADDYFILE} on the server (toss adds \`admin ${CADDY_ADMIN_ADDRESS}\` itself; tools that used the admin API can reach it as root through that socket), then run the command again`,
      },
    );
  }
  const tokens = caddyfileTokens(caddyfile);
  const open = tokens[0];
  const eol = caddyfile.includes('\r\n') ? '\r\n' : '\n';
  if (open && !open.quoted && open.text === '{') {
    // Insert after the line that opens the global options block.
    const lines = caddyfile.split('\n');
    lines.splice(open.line, 0, ...ADMIN_LINES.map((l) => (eol === '\r\n' ? `${l}\r` : l)));
    return { text: lines.join('\n'), changed: true };
  }
  const block = ['{', ...ADMIN_LINES, '}', '', ''].join(eol);
  return { text: `${block}${caddyfile}`, changed: true };
}
