import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { compareVersions, type ElfInfo, readElf } from '../../src/artifact/elf.js';
import {
  findNativeFiles,
  type NativeFile,
  nativeMismatchError,
  PLATFORM_ARGV,
  parsePlatform,
  platformProblems,
  type ServerPlatform,
} from '../../src/artifact/native-check.js';
import { TossError } from '../../src/errors.js';

const PROJECT = resolve(import.meta.dirname, '../..');

function run(argv: readonly string[], input?: string): string {
  const result = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    input,
    // readelf -V lists every dynamic symbol's version: megabytes for node.
    maxBuffer: 1 << 30,
  });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

// What this machine says about itself, from tools that share no code with the parser.
const HOST_ARCH = run(['uname', '-m']).trim();
const HOST_GLIBC = /^glibc (\S+)$/.exec(run(['getconf', 'GNU_LIBC_VERSION']).trim())?.[1];
const LS = readFileSync('/bin/ls');

interface ReadelfView {
  bits: number;
  interpreter?: string;
  glibc?: string;
  needed?: string[];
}

/** What binutils' readelf reports, the highest GLIBC_ version picked by coreutils' sort -V. */
function readelfView(path: string): ReadelfView {
  const header = run(['readelf', '-h', path]);
  const program = run(['readelf', '-l', '--wide', path]);
  const versions = run(['readelf', '-V', '--wide', path]);
  const needs = versions.slice(versions.indexOf('Version needs section'));
  const names = [...needs.matchAll(/Name: GLIBC_(\d+(?:\.\d+)+)\s/g)].map((match) => match[1]!);
  const sorted = run(['sort', '-V'], `${names.join('\n')}\n`)
    .trim()
    .split('\n');
  const view: ReadelfView = { bits: /Class:\s+ELF64/.test(header) ? 64 : 32 };
  const interpreter = /Requesting program interpreter: ([^\]]+)\]/.exec(program)?.[1];
  if (interpreter !== undefined) view.interpreter = interpreter;
  if (names.length > 0) view.glibc = sorted[sorted.length - 1]!;
  const dynamic = run(['readelf', '-d', '--wide', path]);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
    (match) => match[1]!,
  );
  if (needed.length > 0) view.needed = needed;
  return view;
}

// Found once: `find` over node_modules takes a moment, and node is a big file to read twice.
const NATIVE_ADDONS = run(['find', join(PROJECT, 'node_modules'), '-name', '*.node', '-type', 'f'])
  .split('\n')
  .filter((line) => line !== '')
  .filter((path) => readFileSync(path).subarray(0, 4).toString('latin1') === '\x7fELF');
const REAL_BINARIES = ['/bin/ls', process.execPath, ...NATIVE_ADDONS].map((path) =>
  realpathSync(path),
);
const contents = new Map<string, Buffer>();
function contentOf(path: string): Buffer {
  const cached = contents.get(path) ?? readFileSync(path);
  contents.set(path, cached);
  return cached;
}

interface ElfSpec {
  bits: 32 | 64;
  little: boolean;
  /** e_type: 1 relocatable, 2 executable, 3 shared. */
  type: number;
  machine: number;
  interpreter?: string;
  /** Version names needed from libc.so.6, e.g. GLIBC_2.17. */
  needs?: readonly string[];
  /** DT_NEEDED libraries, e.g. libc.so.6. */
  libraries?: readonly string[];
}

/** Where fabricateElf puts each part; sizes are 0 for parts the file does not have. */
interface ElfLayout {
  wide: boolean;
  sizes: { header: number; program: number; section: number; dynamic: number };
  interp: string | undefined;
  needs: readonly string[];
  libraries: readonly string[];
  /** .dynstr: "", libc.so.6, the version names, the libraries. */
  strings: string[];
  dynstr: string;
  phoff: number;
  interpOffset: number;
  dynstrOffset: number;
  verneedOffset: number;
  verneedSize: number;
  dynamicOffset: number;
  dynamicSize: number;
  shoff: number;
  /** Section headers: none, or the null one, .dynstr, .gnu.version_r and .dynamic. */
  shnum: number;
}

function layoutOf(spec: ElfSpec): ElfLayout {
  const wide = spec.bits === 64;
  const sizes = wide
    ? { header: 64, program: 56, section: 64, dynamic: 16 }
    : { header: 52, program: 32, section: 40, dynamic: 8 };
  const interp = spec.interpreter === undefined ? undefined : `${spec.interpreter}\0`;
  const needs = spec.needs ?? [];
  const libraries = spec.libraries ?? [];
  const strings = ['', 'libc.so.6', ...needs, ...libraries];
  const dynstr = strings.map((s) => `${s}\0`).join('');
  const interpOffset = sizes.header + (interp === undefined ? 0 : sizes.program);
  const dynstrOffset = interpOffset + (interp?.length ?? 0);
  const verneedOffset = align(dynstrOffset + dynstr.length, 8);
  const verneedSize = needs.length === 0 ? 0 : 16 * (1 + needs.length);
  const dynamicOffset = align(verneedOffset + verneedSize, 8);
  const dynamicSize = libraries.length === 0 ? 0 : sizes.dynamic * (libraries.length + 1);
  return {
    wide,
    sizes,
    interp,
    needs,
    libraries,
    strings,
    dynstr,
    phoff: interp === undefined ? 0 : sizes.header,
    interpOffset,
    dynstrOffset,
    verneedOffset,
    verneedSize,
    dynamicOffset,
    dynamicSize,
    shoff: align(dynamicOffset + dynamicSize, 8),
    shnum: needs.length + libraries.length === 0 ? 0 : 4,
  };
}

/** A minimal ELF file: header, PT_INTERP, .dynstr, .gnu.version_r, .dynamic, section headers. */
function fabricateElf(spec: ElfSpec): Buffer {
  const layout = layoutOf(spec);
  const bytes = Buffer.alloc(layout.shoff + layout.shnum * layout.sizes.section);
  const w = writer(bytes, spec.little, layout.wide);
  writeHeader(bytes, w, spec, layout);
  const { interp, wide, phoff } = layout;
  if (interp !== undefined) {
    w.u32(phoff, 3); // PT_INTERP
    w.word(phoff + (wide ? 8 : 4), layout.interpOffset);
    w.word(phoff + (wide ? 32 : 16), interp.length);
    w.word(phoff + (wide ? 40 : 20), interp.length);
    bytes.write(interp, layout.interpOffset, 'latin1');
  }
  bytes.write(layout.dynstr, layout.dynstrOffset, 'latin1');
  writeVersionNeeds(w, layout);
  layout.libraries.forEach((library, i) => {
    const at = layout.dynamicOffset + i * layout.sizes.dynamic;
    w.word(at, 1); // DT_NEEDED; the zeroed entry after the last is DT_NULL.
    w.word(at + layout.sizes.dynamic / 2, stringOffset(layout, library));
  });
  if (layout.shnum > 0) writeSectionHeaders(w, layout);
  return bytes;
}

function stringOffset(layout: ElfLayout, value: string): number {
  const index = layout.strings.indexOf(value);
  return layout.strings.slice(0, index).reduce((sum, s) => sum + s.length + 1, 0);
}

function writeHeader(bytes: Buffer, w: Writer, spec: ElfSpec, layout: ElfLayout): void {
  const { wide, sizes } = layout;
  bytes.write('\x7fELF', 0, 'latin1');
  bytes[4] = wide ? 2 : 1;
  bytes[5] = spec.little ? 1 : 2;
  bytes[6] = 1;
  w.u16(16, spec.type);
  w.u16(18, spec.machine);
  w.u32(20, 1);
  w.word(wide ? 32 : 28, layout.phoff);
  w.word(wide ? 40 : 32, layout.shnum === 0 ? 0 : layout.shoff);
  w.u16(wide ? 52 : 40, sizes.header);
  w.u16(wide ? 54 : 42, sizes.program);
  w.u16(wide ? 56 : 44, layout.interp === undefined ? 0 : 1);
  w.u16(wide ? 58 : 46, sizes.section);
  w.u16(wide ? 60 : 48, layout.shnum);
}

/** One Verneed entry for libc.so.6 with a Vernaux per needed version. */
function writeVersionNeeds(w: Writer, layout: ElfLayout): void {
  const { needs, verneedOffset } = layout;
  if (needs.length === 0) return;
  w.u16(verneedOffset, 1);
  w.u16(verneedOffset + 2, needs.length);
  w.u32(verneedOffset + 4, stringOffset(layout, 'libc.so.6'));
  w.u32(verneedOffset + 8, 16);
  needs.forEach((name, i) => {
    const aux = verneedOffset + 16 * (i + 1);
    w.u16(aux + 6, i + 2);
    w.u32(aux + 8, stringOffset(layout, name));
    w.u32(aux + 12, i === needs.length - 1 ? 0 : 16);
  });
}

interface SectionFields {
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
}

function writeSectionHeaders(w: Writer, layout: ElfLayout): void {
  const { wide } = layout;
  const section = (index: number, fields: SectionFields) => {
    const at = layout.shoff + index * layout.sizes.section;
    w.u32(at + 4, fields.type);
    w.word(at + (wide ? 24 : 16), fields.offset);
    w.word(at + (wide ? 32 : 20), fields.size);
    w.u32(at + (wide ? 40 : 24), fields.link);
    w.u32(at + (wide ? 44 : 28), fields.info);
  };
  // SHT_STRTAB; SHT_GNU_verneed linked to it, with its one entry (the library) in sh_info, or an
  // empty SHT_NULL; SHT_DYNAMIC linked to it, or an empty SHT_NULL.
  const strtab = { type: 3, offset: layout.dynstrOffset, size: layout.dynstr.length, link: 0 };
  section(1, { ...strtab, info: 0 });
  const verneed = { offset: layout.verneedOffset, size: layout.verneedSize, link: 1, info: 1 };
  section(2, { ...verneed, type: layout.verneedSize === 0 ? 0 : 0x6ffffffe });
  const dynamic = { offset: layout.dynamicOffset, size: layout.dynamicSize, link: 1, info: 0 };
  section(3, { ...dynamic, type: layout.dynamicSize === 0 ? 0 : 6 });
}

function align(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

type Writer = ReturnType<typeof writer>;

function writer(bytes: Buffer, little: boolean, wide: boolean) {
  return {
    u16: (at: number, value: number) =>
      little ? bytes.writeUInt16LE(value, at) : bytes.writeUInt16BE(value, at),
    u32: (at: number, value: number) =>
      little ? bytes.writeUInt32LE(value, at) : bytes.writeUInt32BE(value, at),
    word: (at: number, value: number) => {
      if (!wide) return little ? bytes.writeUInt32LE(value, at) : bytes.writeUInt32BE(value, at);
      return little
        ? bytes.writeBigUInt64LE(BigInt(value), at)
        : bytes.writeBigUInt64BE(BigInt(value), at);
    },
  };
}

const AARCH64_TOOL = fabricateElf({
  bits: 64,
  little: true,
  type: 2,
  machine: 183,
  interpreter: '/lib/ld-linux-aarch64.so.1',
  needs: ['GLIBC_2.17', 'GLIBC_2.34', 'GLIBC_2.4'],
  libraries: ['libm.so.6', 'libc.so.6'],
});
const X86_64_OBJECT = fabricateElf({ bits: 64, little: true, type: 1, machine: 62 });

const temporary: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'toss-elf-'));
  temporary.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

function put(root: string, relative: string, content: Buffer | string): void {
  const path = join(root, relative);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

/** A copy of a binary whose highest GLIBC_ need is raised to the same-length version of 9s. */
function withRaisedGlibc(binary: Buffer, highest: string): { bytes: Buffer; raised: string } {
  const raised = highest.replace(/\d/g, (digit, index) => (index === 0 ? digit : '9'));
  const from = Buffer.from(`\0GLIBC_${highest}\0`, 'latin1');
  const to = Buffer.from(`\0GLIBC_${raised}\0`, 'latin1');
  const bytes = Buffer.from(binary);
  let replaced = 0;
  for (let at = bytes.indexOf(from); at >= 0; at = bytes.indexOf(from, at + 1)) {
    to.copy(bytes, at);
    replaced += 1;
  }
  expect(replaced).toBeGreaterThan(0);
  return { bytes, raised };
}

describe('readElf on this machine’s binaries', () => {
  it('has the binaries and tools it compares against', () => {
    expect(HOST_GLIBC, 'getconf GNU_LIBC_VERSION names this machine’s glibc').toMatch(/^2\.\d+/);
    expect(NATIVE_ADDONS.length, 'a native addon (*.node) under node_modules').toBeGreaterThan(0);
    expect(existsSync(process.execPath)).toBe(true);
  });

  it.each(REAL_BINARIES)(
    '%s: machine, width, interpreter and glibc as readelf sees them',
    (path) => {
      const info = readElf(contentOf(path));
      const oracle = readelfView(path);
      expect(info).toBeDefined();
      expect(info!.arch).toBe(HOST_ARCH);
      expect(info!.bits).toBe(oracle.bits);
      expect(['executable', 'shared']).toContain(info!.type);
      expect(info!.interpreter).toBe(oracle.interpreter);
      expect(info!.glibc).toBe(oracle.glibc);
      expect(info!.needed).toEqual(oracle.needed);
      expect(info!.needed).toContain('libc.so.6');
    },
  );

  it('finds an interpreter and a glibc need no newer than this machine’s glibc', () => {
    for (const path of REAL_BINARIES.slice(0, 2)) {
      const info = readElf(contentOf(path))!;
      expect(info.interpreter).toMatch(/^\/lib.*\/ld-linux-[\w-]+\.so\.\d$/);
      expect(info.glibc).toMatch(/^2\.\d+(\.\d+)?$/);
      expect(compareVersions(info.glibc!, HOST_GLIBC!)).toBeLessThanOrEqual(0);
      expect(compareVersions(info.glibc!, '2.2')).toBeGreaterThanOrEqual(0);
    }
  });

  it('reads a raised GLIBC_ version from a modified copy', () => {
    const original = readElf(LS)!;
    const { bytes, raised } = withRaisedGlibc(LS, original.glibc!);
    expect(compareVersions(raised, original.glibc!)).toBe(1);
    expect(readElf(bytes)!.glibc).toBe(raised);
  });
});

describe('readElf on fabricated files', () => {
  it('reads an aarch64 executable, taking the numerically highest glibc', () => {
    expect(readElf(AARCH64_TOOL)).toEqual({
      type: 'executable',
      machine: 183,
      arch: 'aarch64',
      bits: 64,
      endian: 'little',
      interpreter: '/lib/ld-linux-aarch64.so.1',
      glibc: '2.34',
      needed: ['libm.so.6', 'libc.so.6'],
    } satisfies ElfInfo);
  });

  it('the fabricated aarch64 file is one binutils reads the same way', () => {
    const path = join(tempDir(), 'tool');
    writeFileSync(path, AARCH64_TOOL);
    expect(run(['readelf', '-h', path])).toMatch(/Machine:\s+AArch64/);
    expect(readelfView(path).interpreter).toBe('/lib/ld-linux-aarch64.so.1');
    // With no dynamic section readelf shows the needed versions' string offsets, not their names:
    // look those up in its dump of the string table the verneed section links to.
    const versions = run(['readelf', '-V', '--wide', path]);
    const link = /Version needs section .*\n.*Link: (\d+)/.exec(versions)?.[1];
    const strings = new Map(
      [...run(['readelf', '-p', link!, path]).matchAll(/\[\s*([0-9a-f]+)\]\s+(\S+)/g)].map(
        (match) => [Number.parseInt(match[1]!, 16), match[2]!],
      ),
    );
    const names = [...versions.matchAll(/Name index: ([0-9a-f]+)/g)].map((match) =>
      strings.get(Number.parseInt(match[1]!, 16)),
    );
    expect(names).toEqual(['GLIBC_2.17', 'GLIBC_2.34', 'GLIBC_2.4']);
  });

  it('reads big-endian ppc64 and little-endian ppc64le', () => {
    const spec = { bits: 64, type: 3, machine: 21, needs: ['GLIBC_2.3.4', 'GLIBC_2.17'] } as const;
    const big = readElf(fabricateElf({ ...spec, little: false }));
    expect(big).toMatchObject({ type: 'shared', arch: 'ppc64', endian: 'big', glibc: '2.17' });
    expect(big!.interpreter).toBeUndefined();
    const little = readElf(fabricateElf({ ...spec, little: true }));
    expect(little).toMatchObject({ arch: 'ppc64le', endian: 'little', glibc: '2.17' });
  });

  it('reads a 32-bit i386 executable', () => {
    const info = readElf(
      fabricateElf({
        bits: 32,
        little: true,
        type: 2,
        machine: 3,
        interpreter: '/lib/ld-linux.so.2',
        needs: ['GLIBC_2.0', 'GLIBC_2.1.3', 'GLIBC_PRIVATE'],
      }),
    );
    expect(info).toEqual({
      type: 'executable',
      machine: 3,
      arch: 'i386',
      bits: 32,
      endian: 'little',
      interpreter: '/lib/ld-linux.so.2',
      glibc: '2.1.3',
    });
  });

  it('reads a big-endian 32-bit file and names machines it does not know by number', () => {
    const mips = readElf(fabricateElf({ bits: 32, little: false, type: 2, machine: 8 }));
    expect(mips).toMatchObject({ arch: 'mips', bits: 32, endian: 'big' });
    const odd = readElf(fabricateElf({ bits: 64, little: true, type: 4, machine: 0x1234 }));
    expect(odd).toMatchObject({ type: 'other', arch: 'machine 0x1234', machine: 0x1234 });
  });

  it('reads a relocatable object, and ignores version names that are not glibc’s', () => {
    expect(readElf(X86_64_OBJECT)).toMatchObject({ type: 'relocatable', arch: 'x86_64' });
    const cxx = fabricateElf({
      bits: 64,
      little: true,
      type: 3,
      machine: 62,
      needs: ['GLIBCXX_3.4.30', 'CXXABI_1.3', 'GLIBC_2.14'],
    });
    expect(readElf(cxx)!.glibc).toBe('2.14');
  });

  it('returns undefined for what is not ELF', () => {
    expect(readElf(Buffer.alloc(0))).toBeUndefined();
    expect(readElf(Buffer.from('#!/bin/sh\necho hi\n'))).toBeUndefined();
    expect(readElf(Buffer.from('\x7fELF', 'latin1'))).toBeUndefined();
    const badClass = Buffer.from(AARCH64_TOOL);
    badClass[4] = 3;
    expect(readElf(badClass)).toBeUndefined();
  });

  it('survives huge counts and offsets in the header without reading them', () => {
    const hostile = Buffer.from(AARCH64_TOOL);
    hostile.writeUInt16LE(0xffff, 54); // e_phentsize
    hostile.writeUInt16LE(0xffff, 56); // e_phnum
    hostile.writeUInt16LE(0xffff, 58); // e_shentsize
    hostile.writeUInt16LE(0xffff, 60); // e_shnum
    expect(readElf(hostile)).toMatchObject({ arch: 'aarch64' });
    const far = Buffer.from(AARCH64_TOOL);
    far.writeBigUInt64LE(0xffff_ffff_ffff_ff00n, 32); // e_phoff
    far.writeBigUInt64LE(0x7fff_ffff_0000n, 40); // e_shoff
    const info = readElf(far)!;
    expect(info.interpreter).toBeUndefined();
    expect(info.glibc).toBeUndefined();
  });

  it('never throws on random bytes behind an ELF identification', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2),
        fc.constantFrom(1, 2),
        fc.uint8Array({ maxLength: 600 }),
        (elfClass, byteOrder, rest) => {
          const bytes = Buffer.concat([
            Buffer.from([0x7f, 0x45, 0x4c, 0x46, elfClass, byteOrder]),
            rest,
          ]);
          const info = readElf(bytes);
          if (bytes.length < (elfClass === 2 ? 64 : 52)) expect(info).toBeUndefined();
          else expect(info?.bits).toBe(elfClass === 2 ? 64 : 32);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never throws on fabricated files with random bytes overwritten', () => {
    const files = [
      AARCH64_TOOL,
      fabricateElf({ bits: 32, little: false, type: 3, machine: 20, needs: ['GLIBC_2.4'] }),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...files),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        (original, edits) => {
          const bytes = Buffer.from(original);
          for (const [index, value] of edits) bytes[index % bytes.length] = value;
          const info = readElf(bytes);
          if (info?.glibc !== undefined) expect(info.glibc).toMatch(/^\d+(\.\d+)+$/);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never throws on truncations of a real binary, and learns no more than the whole file says', () => {
    const whole = readElf(LS)!;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: LS.length }), (length) => {
        const info = readElf(LS.subarray(0, length));
        if (length < 64) {
          expect(info).toBeUndefined();
          return;
        }
        expect(info!.arch).toBe(whole.arch);
        if (info!.glibc !== undefined) {
          expect(compareVersions(info!.glibc, whole.glibc!)).toBeLessThanOrEqual(0);
        }
      }),
      { numRuns: 500 },
    );
    expect(readElf(LS.subarray(0, LS.length))).toEqual(whole);
  });
});

describe('compareVersions', () => {
  it.each([
    ['2.4', '2.17', -1],
    ['2.17', '2.4', 1],
    ['2.17', '2.17', 0],
    ['2.17', '2.17.0', 0],
    ['2.3.4', '2.3', 1],
    ['2.38', '2.36', 1],
    ['10.0', '9.99', 1],
  ])('%s vs %s is %i', (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });
});

describe('findNativeFiles', () => {
  it('finds executables and shared libraries among text files, sorted, with relative paths', async () => {
    const root = tempDir();
    put(root, 'index.js', 'console.log(1)\n');
    put(root, 'README', 'plain text with no extension\n');
    put(root, 'empty', '');
    put(root, 'bin/tool', LS);
    put(root, 'node_modules/x/build/Release/x.node', AARCH64_TOOL);
    put(root, 'build/x.o', X86_64_OBJECT);
    put(root, 'build/x-without-extension', X86_64_OBJECT);
    const found = await findNativeFiles(root);
    expect(found.map((file) => file.path)).toEqual([
      'bin/tool',
      'node_modules/x/build/Release/x.node',
    ]);
    expect(found[0]!.info).toEqual(readElf(LS));
    expect(found[1]!.info).toEqual(readElf(AARCH64_TOOL));
  });

  it('reads the same facts from a file handle as from the whole file', async () => {
    for (const source of REAL_BINARIES) {
      // The binary's own directory, with everything but the binary skipped.
      const found = await findNativeFiles(dirname(source), {
        skip: (path, isDirectory) => isDirectory || path !== basename(source),
      });
      expect(found).toEqual([{ path: basename(source), info: readElf(contentOf(source)) }]);
      expect(found[0]!.info.glibc).toBeDefined();
    }
  });

  it('neither reports nor follows symlinks, skips .git and does not open a FIFO', async () => {
    const root = tempDir();
    put(root, 'app.js', '');
    symlinkSync('/bin/ls', join(root, 'ls-link'));
    symlinkSync('/usr/bin', join(root, 'usr-bin-link'));
    put(root, '.git/hooks/tool', LS);
    put(root, 'sub/.git/tool', LS);
    run(['mkfifo', join(root, 'pipe')]);
    expect(await findNativeFiles(root)).toEqual([]);
  });

  it('leaves alone files whose extension says they are not native code', async () => {
    const root = tempDir();
    put(root, 'looks-like-text.js', LS);
    put(root, 'looks-like-a-map.js.map', LS);
    put(root, 'lib/libthing.so.1', LS);
    const found = await findNativeFiles(root);
    expect(found.map((file) => file.path)).toEqual(['lib/libthing.so.1']);
  });

  it('respects skip for directories and files, with relative paths and their kind', async () => {
    const root = tempDir();
    put(root, 'vendor/tool', LS);
    put(root, 'keep/tool', LS);
    put(root, 'keep/ignored-tool', LS);
    const asked: string[] = [];
    const found = await findNativeFiles(root, {
      skip: (path, isDirectory) => {
        asked.push(`${isDirectory ? 'dir' : 'file'} ${path}`);
        return path === 'vendor' || path === 'keep/ignored-tool';
      },
    });
    expect(found.map((file) => file.path)).toEqual(['keep/tool']);
    expect(asked.sort()).toEqual([
      'dir keep',
      'dir vendor',
      'file keep/ignored-tool',
      'file keep/tool',
    ]);
  });

  it('never throws on corrupted ELF files read through a file handle', async () => {
    const root = tempDir();
    const random = fc.sample(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
      { numRuns: 60, seed: 14 },
    );
    random.forEach((edits, i) => {
      const bytes = Buffer.from(AARCH64_TOOL);
      for (const [index, value] of edits) bytes[index % bytes.length] = value;
      put(root, `corrupt-${i}`, bytes);
    });
    put(root, 'truncated', LS.subarray(0, 3000));
    const found = await findNativeFiles(root);
    for (const file of found) expect(['executable', 'shared']).toContain(file.info.type);
    expect(found.map((file) => file.path)).toContain('truncated');
  });

  it('finds the native binaries under this project’s node_modules', async () => {
    const started = performance.now();
    const found = await findNativeFiles(join(PROJECT, 'node_modules'));
    const elapsed = performance.now() - started;
    const paths = found.map((file) => file.path);
    for (const addon of NATIVE_ADDONS) {
      expect(paths).toContain(addon.slice(join(PROJECT, 'node_modules').length + 1));
    }
    for (const file of found) expect(file.info.arch).toBe(HOST_ARCH);
    // Tens of thousands of files: a generous bound that still catches opening every one of them.
    expect(elapsed).toBeLessThan(20_000);
  }, 30_000);
});

const X86_64_GLIBC_2_36: ServerPlatform = {
  arch: 'x86_64',
  libc: { kind: 'glibc', version: '2.36' },
};

function native(path: string, info: Partial<ElfInfo>): NativeFile {
  return {
    path,
    info: { type: 'shared', machine: 62, arch: 'x86_64', bits: 64, endian: 'little', ...info },
  };
}

describe('PLATFORM_ARGV and parsePlatform', () => {
  it('reports this machine as uname and getconf do', () => {
    expect(parsePlatform(run(PLATFORM_ARGV))).toEqual({
      arch: HOST_ARCH,
      libc: { kind: 'glibc', version: HOST_GLIBC },
    });
  });

  it('reads glibc, musl and silence', () => {
    expect(parsePlatform('aarch64\nglibc 2.39\n')).toEqual({
      arch: 'aarch64',
      libc: { kind: 'glibc', version: '2.39' },
    });
    expect(parsePlatform('x86_64\nmusl\n')).toEqual({ arch: 'x86_64', libc: { kind: 'musl' } });
    expect(parsePlatform('riscv64\n')).toEqual({ arch: 'riscv64', libc: { kind: 'unknown' } });
    expect(parsePlatform('')).toEqual({ arch: '', libc: { kind: 'unknown' } });
    expect(parsePlatform('x86 64; rm\n')).toEqual({ arch: '', libc: { kind: 'unknown' } });
  });
});

describe('platformProblems', () => {
  it('names a file built for another architecture', () => {
    const file: NativeFile = {
      path: 'node_modules/x/build/Release/x.node',
      info: readElf(AARCH64_TOOL)!,
    };
    expect(platformProblems([file], X86_64_GLIBC_2_36)).toEqual([
      'node_modules/x/build/Release/x.node is built for aarch64; the server is x86_64',
    ]);
    expect(
      platformProblems([file], { arch: 'aarch64', libc: { kind: 'glibc', version: '2.36' } }),
    ).toEqual([]);
  });

  it('accepts this machine’s own binaries on this machine', async () => {
    const platform = parsePlatform(run(PLATFORM_ARGV));
    const root = tempDir();
    put(root, 'bin/ls', LS);
    copyFileSync(process.execPath, join(root, 'bin/node'));
    expect(platformProblems(await findNativeFiles(root), platform)).toEqual([]);
  });

  it('catches a binary needing a newer glibc than the server has', async () => {
    const platform = parsePlatform(run(PLATFORM_ARGV));
    const { bytes, raised } = withRaisedGlibc(LS, readElf(LS)!.glibc!);
    const root = tempDir();
    put(root, 'bin/tool', bytes);
    expect(platformProblems(await findNativeFiles(root), platform)).toEqual([
      `bin/tool needs glibc ${raised}; the server has glibc ${HOST_GLIBC}`,
    ]);
  });

  it('compares glibc versions as numbers and leaves an unknown libc alone', () => {
    const files = [native('a.node', { glibc: '2.4' }), native('b.node', { glibc: '2.38' })];
    expect(platformProblems(files, X86_64_GLIBC_2_36)).toEqual([
      'b.node needs glibc 2.38; the server has glibc 2.36',
    ]);
    expect(platformProblems(files, { arch: 'x86_64', libc: { kind: 'unknown' } })).toEqual([]);
  });

  it('catches musl binaries on a glibc server and glibc binaries on a musl server', () => {
    const musl = native('bin/alpine-tool', { interpreter: '/lib/ld-musl-x86_64.so.1' });
    const glibc = native('bin/debian-tool', {
      interpreter: '/lib64/ld-linux-x86-64.so.2',
      glibc: '2.17',
    });
    const glibcLibrary = native('lib/x.node', { glibc: '2.17' });
    // Shared libraries have no loader of their own: their C library shows in DT_NEEDED.
    const muslAddon = readElf(
      fabricateElf({
        bits: 64,
        little: true,
        type: 3,
        machine: 62,
        libraries: ['libc.musl-x86_64.so.1'],
      }),
    )!;
    const glibcAddon = readElf(
      fabricateElf({ bits: 64, little: true, type: 3, machine: 62, libraries: ['libc.so.6'] }),
    )!;
    const addons = [
      { path: 'musl.node', info: muslAddon },
      { path: 'gnu.node', info: glibcAddon },
    ];
    expect(platformProblems([musl, glibc, ...addons], X86_64_GLIBC_2_36)).toEqual([
      'bin/alpine-tool is linked against musl (/lib/ld-musl-x86_64.so.1); the server has glibc 2.36',
      'musl.node is linked against musl (libc.musl-x86_64.so.1); the server has glibc 2.36',
    ]);
    expect(
      platformProblems([musl, glibc, glibcLibrary, ...addons], {
        arch: 'x86_64',
        libc: { kind: 'musl' },
      }),
    ).toEqual([
      'bin/debian-tool is linked against glibc; the server has musl',
      'lib/x.node is linked against glibc; the server has musl',
      'gnu.node is linked against glibc; the server has musl',
    ]);
    expect(platformProblems([musl, glibc], { arch: 'x86_64', libc: { kind: 'unknown' } })).toEqual(
      [],
    );
  });

  it('lets 64-bit servers run their 32-bit ancestors’ binaries, and nothing else', () => {
    const i386 = native('i386', { machine: 3, arch: 'i386', bits: 32 });
    const arm = native('arm', { machine: 40, arch: 'arm', bits: 32 });
    const ppc64 = native('ppc64', { machine: 21, arch: 'ppc64', endian: 'big' });
    const glibc = { kind: 'glibc', version: '2.36' } as const;
    expect(platformProblems([i386], X86_64_GLIBC_2_36)).toEqual([]);
    expect(platformProblems([arm], { arch: 'aarch64', libc: glibc })).toEqual([]);
    expect(platformProblems([arm], { arch: 'armv7l', libc: glibc })).toEqual([]);
    expect(platformProblems([native('x', {})], { arch: 'i686', libc: glibc })).toEqual([
      'x is built for x86_64; the server is i686',
    ]);
    expect(platformProblems([ppc64], { arch: 'ppc64le', libc: glibc })).toEqual([
      'ppc64 is built for ppc64; the server is ppc64le',
    ]);
    expect(platformProblems([ppc64, i386], { arch: '', libc: glibc })).toEqual([]);
  });

  it('summarises many files with one problem', () => {
    const files = Array.from({ length: 30 }, (_, i) =>
      native(`node_modules/p${String(i).padStart(2, '0')}/x.node`, {
        machine: 183,
        arch: 'aarch64',
      }),
    );
    expect(platformProblems(files, X86_64_GLIBC_2_36)).toEqual([
      'node_modules/p00/x.node is built for aarch64; the server is x86_64',
      'node_modules/p01/x.node is built for aarch64; the server is x86_64',
      'node_modules/p02/x.node is built for aarch64; the server is x86_64',
      'and 27 more files built for aarch64',
    ]);
    expect(platformProblems(files.slice(0, 4), X86_64_GLIBC_2_36)).toHaveLength(4);
  });

  it('stops at about ten lines and counts the rest', () => {
    const arches = ['aarch64', 'riscv64', 's390x', 'ppc64le'];
    const files = arches.flatMap((arch) =>
      Array.from({ length: 5 }, (_, i) => native(`${arch}-${i}`, { arch })),
    );
    const lines = platformProblems(files, X86_64_GLIBC_2_36);
    expect(lines).toHaveLength(11);
    // Each kind takes four lines (three files, then "and 2 more"): the first ten lines stand for
    // 5 + 5 + 2 files, and the last counts the other 8.
    expect(lines[9]).toBe('s390x-1 is built for s390x; the server is x86_64');
    expect(lines[10]).toBe('and 8 more files that cannot run on the server');
  });

  it('shows a path with control characters quoted', () => {
    expect(platformProblems([native('bad\nname', { arch: 'aarch64' })], X86_64_GLIBC_2_36)).toEqual(
      ['"bad\\nname" is built for aarch64; the server is x86_64'],
    );
  });
});

describe('nativeMismatchError', () => {
  it('lists the problems and says how to build for the server', () => {
    const problems = [
      'bin/tool needs glibc 2.38; the server has glibc 2.36',
      'x.node is built for aarch64; the server is x86_64',
    ];
    const error = nativeMismatchError(problems);
    expect(error).toBeInstanceOf(TossError);
    expect(error.message).toMatch(/native code that cannot run on the server/);
    for (const problem of problems) expect(error.message).toContain(problem);
    expect(error.hint).toMatch(/architecture/);
    expect(error.hint).toContain('ubuntu-24.04-arm');
    expect(error.hint).toContain('deployScript');
  });
});
