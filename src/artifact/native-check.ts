/**
 * Native binaries in a tree built where toss runs, and whether the server can run them. A build
 * on a laptop or a CI runner can leave compiled addons and tools in the artifact (node_modules'
 * `.node` files, a Go or Rust binary) made for another processor, or linked against a newer glibc
 * than the server's. Found before the upload, they stop a deploy before anything switches.
 */
import { constants, type Dirent } from 'node:fs';
import { type FileHandle, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TossError } from '../errors.js';
import { compareVersions, type ElfInfo, parseElf } from './elf.js';

export interface NativeFile {
  /** Relative to the tree's root, '/'-separated. */
  path: string;
  info: ElfInfo;
}

export interface FindNativeOptions {
  /**
   * True for a path (relative, '/'-separated) not to look at or into. Asked about every
   * directory, and about the files whose extension does not already rule out native code.
   */
  skip?: (relativePath: string, isDirectory: boolean) => boolean;
}

export interface ServerPlatform {
  /** As `uname -m` prints it; empty when the server did not say. */
  arch: string;
  libc: { kind: 'glibc'; version: string } | { kind: 'musl' } | { kind: 'unknown' };
}

/** Files and directories open at once while walking a tree. */
const OPEN_AT_ONCE = 32;

/** The largest single read of a file's headers or sections. */
const MAX_READ_BYTES = 8 << 20;

// Extensions that name text, images, archives or other formats that are never an ELF file;
// a tree like node_modules is mostly these, and skipping them saves an open and a read apiece.
const NOT_NATIVE_EXTENSIONS = new Set(
  (
    'js mjs cjs jsx ts mts cts tsx map json json5 jsonc md markdown mdx txt text rst adoc ' +
    'css scss sass less styl html htm xhtml xml xsd dtd yml yaml toml ini cfg conf env lock ' +
    'log csv tsv svg png jpg jpeg gif webp avif bmp ico tif tiff psd woff woff2 ttf otf eot ' +
    'mp3 mp4 wav ogg webm pdf zip gz tgz bz2 xz zst br tar wasm flow coffee vue svelte astro ' +
    'hbs handlebars mustache ejs pug njk liquid graphql gql proto sql prisma py pyi rb php pl ' +
    'pm lua sh bash zsh fish ps1 bat cmd c h cc cpp cxx hh hpp hxx inl m mm go rs java kt ' +
    'swift cs fs ex exs erl hrl clj scala dart zig nim gyp gypi cmake mk mak am in ac def ' +
    'patch diff snap tsbuildinfo editorconfig gitignore npmignore gitattributes eslintrc ' +
    'prettierrc babelrc nvmrc license licence readme changelog markdownlint'
  ).split(' '),
);

// O_NOFOLLOW: a symlink swapped in after the directory was read is refused, not followed.
// O_NONBLOCK: a FIFO swapped in likewise errors at once instead of waiting for a writer.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

// A file or directory that changed kind or vanished while the tree was walked is not native code.
const VANISHED_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EISDIR', 'ENXIO', 'EAGAIN']);

interface Walk {
  skip: (relativePath: string, isDirectory: boolean) => boolean;
  limit: Limiter;
  found: NativeFile[];
}

type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * The executables and shared libraries under root, sorted by path. Symlinks are neither reported
 * nor followed, `.git` directories are skipped, and files whose extension says they are not native
 * code are not opened; object files (relocatable ELF) are left out since they cannot run.
 */
export async function findNativeFiles(
  root: string,
  options: FindNativeOptions = {},
): Promise<NativeFile[]> {
  const walk: Walk = {
    skip: options.skip ?? (() => false),
    limit: limiter(OPEN_AT_ONCE),
    found: [],
  };
  await walkDirectory(root, '', walk);
  return walk.found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function walkDirectory(directory: string, relative: string, walk: Walk): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await walk.limit(() => readdir(directory, { withFileTypes: true }));
  } catch (error) {
    if (relative !== '' && vanished(error)) return;
    throw error;
  }
  await Promise.all(entries.map((entry) => visitEntry(directory, relative, entry, walk)));
}

async function visitEntry(
  directory: string,
  relative: string,
  entry: Dirent,
  walk: Walk,
): Promise<void> {
  const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
  if (entry.isDirectory()) {
    if (entry.name === '.git' || walk.skip(path, true)) return;
    await walkDirectory(join(directory, entry.name), path, walk);
    return;
  }
  if (!entry.isFile() || !mayBeNative(entry.name) || walk.skip(path, false)) return;
  const info = await walk.limit(() => readElfFile(join(directory, entry.name)));
  if (info !== undefined && (info.type === 'executable' || info.type === 'shared')) {
    walk.found.push({ path, info });
  }
}

function mayBeNative(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot < 0 || !NOT_NATIVE_EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}

function vanished(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && VANISHED_CODES.has(code);
}

/** The ELF facts of one file, reading only the header and the ranges the parse asks for. */
async function readElfFile(path: string): Promise<ElfInfo | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    if (vanished(error)) return undefined;
    throw error;
  }
  try {
    return await parseOpenFile(handle);
  } catch (error) {
    if (vanished(error)) return undefined;
    throw error;
  } finally {
    await handle.close();
  }
}

async function parseOpenFile(handle: FileHandle): Promise<ElfInfo | undefined> {
  const parse = parseElf();
  let step = parse.next();
  // The size is only asked once the header proved the file is ELF: most files stop at the header.
  let fileSize = Number.POSITIVE_INFINITY;
  let reads = 0;
  while (!step.done) {
    if (reads === 1) fileSize = (await handle.stat()).size;
    const { offset, length } = step.value;
    const available = Math.min(length, fileSize - offset, MAX_READ_BYTES);
    let bytes: Buffer | undefined;
    if (available > 0) {
      const buffer = Buffer.alloc(available);
      const { bytesRead } = await handle.read(buffer, 0, available, offset);
      bytes = bytesRead > 0 ? buffer.subarray(0, bytesRead) : undefined;
    }
    reads += 1;
    step = parse.next(bytes);
  }
  return step.value;
}

/** Runs at most `max` tasks at once; a finishing task hands its slot to the next one waiting. */
function limiter(max: number): Limiter {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running < max) running += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next === undefined) running -= 1;
      else next();
    }
  };
}

// A constant script: the processor as `uname -m` names it, then `glibc 2.36` where glibc is the
// C library, or `musl` where musl's dynamic loader is installed instead.
const PLATFORM_SCRIPT = `uname -m
if ! getconf GNU_LIBC_VERSION 2>/dev/null; then
  for loader in /lib/ld-musl-*; do if [ -e "$loader" ]; then echo musl; fi; break; done
fi
exit 0`;

/** argv that prints the server's architecture and C library; parsePlatform reads its output. */
export const PLATFORM_ARGV: readonly string[] = ['sh', '-c', PLATFORM_SCRIPT];

/** The server's platform from PLATFORM_ARGV's output; what it does not say stays unknown. */
export function parsePlatform(stdout: string): ServerPlatform {
  const lines = stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const first = lines[0] ?? '';
  const arch = /^[A-Za-z0-9_.-]+$/.test(first) ? first : '';
  for (const line of lines.slice(1)) {
    const glibc = /^glibc\s+(\d+(?:\.\d+)+)/i.exec(line);
    if (glibc !== null) return { arch, libc: { kind: 'glibc', version: glibc[1]! } };
    if (line === 'musl') return { arch, libc: { kind: 'musl' } };
  }
  return { arch, libc: { kind: 'unknown' } };
}

// What a machine of each `uname -m` name runs, as elf.ts names ELF architectures. 64-bit x86 and
// ARM servers usually run their 32-bit ancestors' binaries too.
const RUNNABLE_ARCHES = new Map<string, readonly string[]>([
  ['x86_64', ['x86_64', 'i386']],
  ['amd64', ['x86_64', 'i386']],
  ['aarch64', ['aarch64', 'arm']],
  ['arm64', ['aarch64', 'arm']],
  ['aarch64_be', ['aarch64_be', 'armeb']],
  ['i386', ['i386']],
  ['i486', ['i386']],
  ['i586', ['i386']],
  ['i686', ['i386']],
  ['x86', ['i386']],
  ['riscv64', ['riscv64']],
  ['s390x', ['s390x']],
  ['ppc64le', ['ppc64le']],
  ['ppc64', ['ppc64', 'ppc']],
  ['ppc', ['ppc']],
  ['loongarch64', ['loongarch64']],
  ['mips64', ['mips64', 'mips']],
  ['mips64el', ['mips64el', 'mipsel']],
  ['mips', ['mips']],
  ['mipsel', ['mipsel']],
  ['sparc64', ['sparc64', 'sparc']],
]);

/** The ELF architectures a server runs; undefined for a name this table does not know. */
function runnableArches(unameArch: string): readonly string[] | undefined {
  // armv6l, armv7l, armv8l: 32-bit ARM kernels, little-endian ('b' would be big-endian).
  if (/^arm(v\d+\w*)?l$/.test(unameArch) || unameArch === 'arm') return ['arm'];
  if (/^arm(v\d+\w*)?b$/.test(unameArch)) return ['armeb'];
  return RUNNABLE_ARCHES.get(unameArch);
}

interface Problem {
  /** Problems of one kind are summarised together. */
  kind: string;
  line: string;
  /** `and N more … ` for the files of this kind not listed one by one. */
  more: (count: number) => string;
}

/** Files listed one by one per kind of problem before the rest are counted. */
const LISTED_PER_KIND = 3;
/** Lines returned at most, before a last one counting the problems left out. */
const MAX_PROBLEM_LINES = 10;

/**
 * One line per native file that cannot run on the server (built for another architecture,
 * linked against the other C library, or needing a newer glibc), summarised when many files
 * share a problem. What the server did not reveal is not held against a file.
 */
export function platformProblems(files: readonly NativeFile[], server: ServerPlatform): string[] {
  const problems: Problem[] = [];
  for (const file of files) {
    const problem = archProblem(file, server) ?? libcProblem(file, server);
    if (problem !== undefined) problems.push(problem);
  }
  return summarise(problems);
}

function archProblem(file: NativeFile, server: ServerPlatform): Problem | undefined {
  const runnable = runnableArches(server.arch);
  const { arch } = file.info;
  if (runnable === undefined || runnable.includes(arch)) return undefined;
  return {
    kind: `arch ${arch}`,
    line: `${shownPath(file.path)} is built for ${arch}; the server is ${server.arch}`,
    more: (count) => `and ${count} more ${files(count)} built for ${arch}`,
  };
}

function libcProblem(file: NativeFile, server: ServerPlatform): Problem | undefined {
  const { libc } = server;
  const path = shownPath(file.path);
  const musl = muslEvidence(file.info);
  if (libc.kind === 'glibc' && musl !== undefined) {
    return {
      kind: 'musl',
      line: `${path} is linked against musl (${musl}); the server has glibc ${libc.version}`,
      more: (count) => `and ${count} more ${files(count)} linked against musl`,
    };
  }
  const { glibc } = file.info;
  if (libc.kind === 'glibc' && glibc !== undefined && compareVersions(glibc, libc.version) > 0) {
    return {
      kind: 'glibc',
      line: `${path} needs glibc ${glibc}; the server has glibc ${libc.version}`,
      more: (count) =>
        `and ${count} more ${files(count)} needing a glibc newer than ${libc.version}`,
    };
  }
  if (libc.kind === 'musl' && isGlibcLinked(file.info)) {
    return {
      kind: 'glibc on musl',
      line: `${path} is linked against glibc; the server has musl`,
      more: (count) => `and ${count} more ${files(count)} linked against glibc`,
    };
  }
  return undefined;
}

function loaderName(interpreter: string): string {
  return interpreter.slice(interpreter.lastIndexOf('/') + 1);
}

/** What shows a file is linked against musl: its loader (ld-musl-…) or its libc.musl-… library. */
function muslEvidence(info: ElfInfo): string | undefined {
  const { interpreter, needed } = info;
  if (interpreter !== undefined && loaderName(interpreter).startsWith('ld-musl-'))
    return interpreter;
  return needed?.find((library) => library.startsWith('libc.musl-'));
}

// glibc's loaders: ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld-linux-armhf.so.3,
// ld-linux.so.2 (i386), ld64.so.1 (s390x), ld64.so.2 (ppc64le), ld.so.1 (32-bit ppc, mips).
const GLIBC_LOADER = /^(ld-linux[\w.-]*|ld64\.so\.\d|ld\.so\.\d)$/;

function isGlibcLinked(info: ElfInfo): boolean {
  const { interpreter, needed, glibc } = info;
  return (
    glibc !== undefined ||
    (interpreter !== undefined && GLIBC_LOADER.test(loaderName(interpreter))) ||
    needed?.includes('libc.so.6') === true
  );
}

function files(count: number): string {
  return count === 1 ? 'file' : 'files';
}

/** A path as it is, unless it holds characters that would garble a message line. */
function shownPath(path: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
  return /[\u0000-\u001f\u007f]/.test(path) ? JSON.stringify(path) : path;
}

interface SummaryLine {
  text: string;
  /** How many problems the line stands for. */
  covers: number;
}

function summarise(problems: readonly Problem[]): string[] {
  const byKind = new Map<string, Problem[]>();
  for (const problem of problems) {
    const kind = byKind.get(problem.kind);
    if (kind === undefined) byKind.set(problem.kind, [problem]);
    else kind.push(problem);
  }
  const lines: SummaryLine[] = [];
  for (const kind of byKind.values()) {
    // Listing one more file beats a line that says "and 1 more".
    const listed = kind.length <= LISTED_PER_KIND + 1 ? kind.length : LISTED_PER_KIND;
    for (const problem of kind.slice(0, listed)) lines.push({ text: problem.line, covers: 1 });
    const rest = kind.length - listed;
    if (rest > 0) lines.push({ text: kind[0]!.more(rest), covers: rest });
  }
  if (lines.length <= MAX_PROBLEM_LINES) return lines.map((line) => line.text);
  const kept = lines.slice(0, MAX_PROBLEM_LINES);
  const left = problems.length - kept.reduce((sum, line) => sum + line.covers, 0);
  return [
    ...kept.map((line) => line.text),
    `and ${left} more ${files(left)} that cannot run on the server`,
  ];
}

/** The error that stops a deploy whose artifact holds native code the server cannot run. */
export function nativeMismatchError(problems: readonly string[]): TossError {
  return new TossError(
    `the built artifact holds native code that cannot run on the server:\n${problems.map((line) => `  ${line}`).join('\n')}`,
    {
      hint:
        "build on a machine of the server's architecture with the same or an older glibc than the server's " +
        "(a runner image matching the server's OS release, e.g. `runs-on: ubuntu-24.04-arm` for an arm64 server), " +
        'or move the native build into `deployScript` so it runs on the server; ' +
        "files the app never loads (a package manager installing every platform's binary, as npm 8 does with musl builds) can be left out with `exclude` or `.tossignore`",
    },
  );
}
