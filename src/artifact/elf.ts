/**
 * Reads what decides whether a native binary can run on a machine from its ELF headers: the
 * machine and word size it is built for, the dynamic loader it asks for (PT_INTERP), the newest
 * glibc symbol version it needs (.gnu.version_r) and the libraries it links against (DT_NEEDED). Pure: the parse is a generator that asks for the
 * byte ranges it needs, so a caller holding the whole file slices a Buffer (readElf) and one
 * holding a file handle reads only those ranges from disk. Every offset and count comes from a file
 * that may be truncated or hostile, so each is bounds-checked and capped: a bad file yields
 * undefined or less information, never an exception or an endless loop.
 */

export type ElfType = 'executable' | 'shared' | 'relocatable' | 'other';

export interface ElfInfo {
  type: ElfType;
  /** e_machine as the file states it. */
  machine: number;
  /** The machine's name as `uname -m` spells it where there is one, else `machine 0x…`. */
  arch: string;
  bits: 32 | 64;
  endian: 'little' | 'big';
  /** The dynamic loader from PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2. */
  interpreter?: string;
  /** The highest GLIBC_x.y[.z] symbol version the file needs, e.g. 2.34. */
  glibc?: string;
  /** The libraries it links against (DT_NEEDED), e.g. libc.so.6 or libc.musl-x86_64.so.1. */
  needed?: string[];
}

/** A span of the file the parse needs; the answer may be shorter when the file ends first. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** Yields the ranges it needs, is resumed with their bytes (undefined past the end), returns. */
export type ElfParse = Generator<ByteRange, ElfInfo | undefined, Buffer | undefined>;
type Step<T> = Generator<ByteRange, T, Buffer | undefined>;

/** Enough bytes for the ELF header of either class. */
export const ELF_HEADER_BYTES = 64;

const PT_INTERP = 3;
const SHT_DYNAMIC = 6;
const SHT_GNU_VERNEED = 0x6ffffffe;
const DT_NULL = 0;
const DT_NEEDED = 1;
const VERNEED_ENTRY_BYTES = 16;
const VERNAUX_ENTRY_BYTES = 16;

// Real files have a dozen program headers, a few dozen sections and a few dozen needed versions;
// the caps only keep a hostile file from making the parse allocate or read without end.
const MAX_PROGRAM_TABLE_BYTES = 1 << 20;
const MAX_SECTION_TABLE_BYTES = 8 << 20;
const MAX_VERNEED_BYTES = 1 << 20;
const MAX_INTERPRETER_BYTES = 4096;
const MAX_VERSION_NAME_BYTES = 64;
const MAX_LIBRARY_NAME_BYTES = 256;
const MAX_DYNAMIC_BYTES = 1 << 20;
const MAX_NEEDED_LIBRARIES = 256;
const MAX_NEEDED_VERSIONS = 512;
const MAX_VERNEED_ENTRIES = 256;

const HEADER_LAYOUT = {
  32: { size: 52, phoff: 28, shoff: 32, phentsize: 42, phnum: 44, shentsize: 46, shnum: 48 },
  64: { size: 64, phoff: 32, shoff: 40, phentsize: 54, phnum: 56, shentsize: 58, shnum: 60 },
} as const;
const PROGRAM_LAYOUT = {
  32: { size: 32, type: 0, offset: 4, filesz: 16 },
  64: { size: 56, type: 0, offset: 8, filesz: 32 },
} as const;
const DYNAMIC_ENTRY_BYTES = { 32: 8, 64: 16 } as const;
const SECTION_LAYOUT = {
  32: { size: 40, type: 4, offset: 16, bytes: 20, link: 24 },
  64: { size: 64, type: 4, offset: 24, bytes: 32, link: 40 },
} as const;

const TYPES: Record<number, ElfType> = { 1: 'relocatable', 2: 'executable', 3: 'shared' };

type ArchNamer = (bits: 32 | 64, little: boolean) => string;
const ARCH_NAMES = new Map<number, ArchNamer>([
  [2, () => 'sparc'],
  [3, () => 'i386'],
  [8, (bits, little) => `mips${bits === 64 ? '64' : ''}${little ? 'el' : ''}`],
  [20, (_bits, little) => (little ? 'ppcle' : 'ppc')],
  [21, (_bits, little) => (little ? 'ppc64le' : 'ppc64')],
  [22, (bits) => (bits === 64 ? 's390x' : 's390')],
  [40, (_bits, little) => (little ? 'arm' : 'armeb')],
  [43, () => 'sparc64'],
  // The x32 ABI: x86_64 instructions with 32-bit pointers, which most kernels do not enable.
  [62, (bits) => (bits === 64 ? 'x86_64' : 'x32')],
  [183, (_bits, little) => (little ? 'aarch64' : 'aarch64_be')],
  [243, (bits) => `riscv${bits}`],
  [258, () => 'loongarch64'],
]);

/** Reads the fields of one file's byte order and class. */
interface Decoder {
  bits: 32 | 64;
  little: boolean;
  u16(bytes: Buffer, at: number): number;
  u32(bytes: Buffer, at: number): number;
  /** A 32- or 64-bit address or size; -1 when it does not fit a safe integer. */
  word(bytes: Buffer, at: number): number;
}

interface Header {
  decoder: Decoder;
  type: number;
  machine: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
}

interface Section {
  type: number;
  offset: number;
  bytes: number;
  link: number;
}

/** The ELF facts of a whole file in memory; undefined when it is not ELF. */
export function readElf(bytes: Buffer): ElfInfo | undefined {
  const parse = parseElf();
  let step = parse.next();
  while (!step.done) step = parse.next(sliceRange(bytes, step.value));
  return step.value;
}

/** Whether bytes start with the ELF magic number. */
export function isElf(bytes: Buffer): boolean {
  return (
    bytes.length >= 4 &&
    bytes[0] === 0x7f &&
    bytes[1] === 0x45 &&
    bytes[2] === 0x4c &&
    bytes[3] === 0x46
  );
}

/** The parse, for callers that read the ranges it asks for themselves. */
export function* parseElf(): ElfParse {
  const head = yield { offset: 0, length: ELF_HEADER_BYTES };
  const header = head === undefined ? undefined : parseHeader(head);
  if (header === undefined) return undefined;
  const { bits, little } = header.decoder;
  const info: ElfInfo = {
    type: TYPES[header.type] ?? 'other',
    machine: header.machine,
    arch: archName(header.machine, bits, little),
    bits,
    endian: little ? 'little' : 'big',
  };
  const interpreter = yield* readInterpreter(header);
  if (interpreter !== undefined) info.interpreter = interpreter;
  const sections = yield* readSections(header);
  const glibc = yield* readGlibcNeed(header.decoder, sections);
  if (glibc !== undefined) info.glibc = glibc;
  const needed = yield* readNeededLibraries(header.decoder, sections);
  if (needed.length > 0) info.needed = needed;
  return info;
}

/** Compares dotted numeric versions (2.9 < 2.17 < 2.17.1); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(versionPart);
  const right = b.split('.').map(versionPart);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

function versionPart(part: string): number {
  return /^\d+$/.test(part) ? Number(part) : 0;
}

function archName(machine: number, bits: 32 | 64, little: boolean): string {
  const namer = ARCH_NAMES.get(machine);
  return namer === undefined
    ? `machine 0x${machine.toString(16).padStart(4, '0')}`
    : namer(bits, little);
}

function sliceRange(bytes: Buffer, range: ByteRange): Buffer | undefined {
  if (range.offset < 0 || range.offset >= bytes.length || range.length <= 0) return undefined;
  return bytes.subarray(range.offset, range.offset + range.length);
}

function decoderFor(bits: 32 | 64, little: boolean): Decoder {
  const u32 = (bytes: Buffer, at: number) =>
    little ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at);
  return {
    bits,
    little,
    u16: (bytes, at) => (little ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at)),
    u32,
    word: (bytes, at) => {
      if (bits === 32) return u32(bytes, at);
      const value = little ? bytes.readBigUInt64LE(at) : bytes.readBigUInt64BE(at);
      return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : -1;
    },
  };
}

function parseHeader(head: Buffer): Header | undefined {
  if (!isElf(head) || head.length < 16) return undefined;
  const elfClass = head[4];
  const byteOrder = head[5];
  if ((elfClass !== 1 && elfClass !== 2) || (byteOrder !== 1 && byteOrder !== 2)) return undefined;
  const bits = elfClass === 2 ? 64 : 32;
  const layout = HEADER_LAYOUT[bits];
  if (head.length < layout.size) return undefined;
  const decoder = decoderFor(bits, byteOrder === 1);
  return {
    decoder,
    type: decoder.u16(head, 16),
    machine: decoder.u16(head, 18),
    phoff: decoder.word(head, layout.phoff),
    phentsize: decoder.u16(head, layout.phentsize),
    phnum: decoder.u16(head, layout.phnum),
    shoff: decoder.word(head, layout.shoff),
    shentsize: decoder.u16(head, layout.shentsize),
    shnum: decoder.u16(head, layout.shnum),
  };
}

/** Asks for a table of `count` entries of `entrySize` bytes, each at least `minimumSize`. */
function* readTable(
  offset: number,
  count: number,
  entrySize: number,
  minimumSize: number,
  maximumBytes: number,
): Step<Buffer | undefined> {
  const length = count * entrySize;
  if (offset <= 0 || count === 0 || entrySize < minimumSize || length > maximumBytes) {
    return undefined;
  }
  const table = yield { offset, length };
  return table !== undefined && table.length === length ? table : undefined;
}

function* readInterpreter(header: Header): Step<string | undefined> {
  const { decoder } = header;
  const layout = PROGRAM_LAYOUT[decoder.bits];
  const table = yield* readTable(
    header.phoff,
    header.phnum,
    header.phentsize,
    layout.size,
    MAX_PROGRAM_TABLE_BYTES,
  );
  if (table === undefined) return undefined;
  for (let at = 0; at + layout.size <= table.length; at += header.phentsize) {
    if (decoder.u32(table, at + layout.type) !== PT_INTERP) continue;
    const offset = decoder.word(table, at + layout.offset);
    const length = decoder.word(table, at + layout.filesz);
    if (offset <= 0 || length <= 0 || length > MAX_INTERPRETER_BYTES) return undefined;
    const bytes = yield { offset, length };
    return bytes === undefined ? undefined : printableCString(bytes);
  }
  return undefined;
}

/** The text before the first NUL when it is all printable ASCII; undefined otherwise. */
function printableCString(bytes: Buffer): string | undefined {
  const end = bytes.indexOf(0);
  if (end <= 0) return undefined;
  for (let i = 0; i < end; i++) {
    const byte = bytes[i]!;
    if (byte < 0x21 || byte > 0x7e) return undefined;
  }
  return bytes.toString('latin1', 0, end);
}

function* readSections(header: Header): Step<Section[]> {
  const { decoder } = header;
  const layout = SECTION_LAYOUT[decoder.bits];
  const table = yield* readTable(
    header.shoff,
    header.shnum,
    header.shentsize,
    layout.size,
    MAX_SECTION_TABLE_BYTES,
  );
  if (table === undefined) return [];
  const sections: Section[] = [];
  for (let at = 0; at + layout.size <= table.length; at += header.shentsize) {
    sections.push({
      type: decoder.u32(table, at + layout.type),
      offset: decoder.word(table, at + layout.offset),
      bytes: decoder.word(table, at + layout.bytes),
      link: decoder.u32(table, at + layout.link),
    });
  }
  return sections;
}

function* readGlibcNeed(decoder: Decoder, sections: Section[]): Step<string | undefined> {
  const verneed = sections.find((section) => section.type === SHT_GNU_VERNEED);
  const strings = verneed === undefined ? undefined : sections[verneed.link];
  if (verneed === undefined || strings === undefined) return undefined;
  if (verneed.offset <= 0 || verneed.bytes <= 0 || verneed.bytes > MAX_VERNEED_BYTES) {
    return undefined;
  }
  const table = yield { offset: verneed.offset, length: verneed.bytes };
  if (table === undefined) return undefined;
  let highest: string | undefined;
  for (const nameOffset of neededVersionNames(table, decoder)) {
    const name = yield* readString(strings, nameOffset, MAX_VERSION_NAME_BYTES);
    const version = name === undefined ? undefined : /^GLIBC_(\d+(?:\.\d+)+)$/.exec(name)?.[1];
    if (version !== undefined && (highest === undefined || compareVersions(version, highest) > 0)) {
      highest = version;
    }
  }
  return highest;
}

/** The NUL-terminated printable string at `offset` in a string table section. */
function* readString(strings: Section, offset: number, maximum: number): Step<string | undefined> {
  if (strings.offset <= 0 || offset >= strings.bytes) return undefined;
  const bytes = yield {
    offset: strings.offset + offset,
    length: Math.min(maximum, strings.bytes - offset),
  };
  return bytes === undefined ? undefined : printableCString(bytes);
}

/** The DT_NEEDED names of the dynamic section, read from the string table it links to. */
function* readNeededLibraries(decoder: Decoder, sections: Section[]): Step<string[]> {
  const dynamic = sections.find((section) => section.type === SHT_DYNAMIC);
  const strings = dynamic === undefined ? undefined : sections[dynamic.link];
  if (dynamic === undefined || strings === undefined) return [];
  if (dynamic.offset <= 0 || dynamic.bytes <= 0 || dynamic.bytes > MAX_DYNAMIC_BYTES) return [];
  const table = yield { offset: dynamic.offset, length: dynamic.bytes };
  if (table === undefined) return [];
  const names: string[] = [];
  for (const nameOffset of neededLibraryNames(table, decoder)) {
    const name = yield* readString(strings, nameOffset, MAX_LIBRARY_NAME_BYTES);
    if (name !== undefined) names.push(name);
  }
  return names;
}

/** The string-table offsets of the DT_NEEDED entries, up to DT_NULL or the table's end. */
function neededLibraryNames(table: Buffer, decoder: Decoder): number[] {
  const entryBytes = DYNAMIC_ENTRY_BYTES[decoder.bits];
  const offsets: number[] = [];
  for (let at = 0; at + entryBytes <= table.length; at += entryBytes) {
    // Tags and values are words; a tag too large for a safe integer is none this reads.
    const tag = decoder.word(table, at);
    if (tag === DT_NULL || offsets.length >= MAX_NEEDED_LIBRARIES) break;
    if (tag === DT_NEEDED) offsets.push(decoder.word(table, at + entryBytes / 2));
  }
  return offsets.filter((offset) => offset >= 0);
}

/**
 * The string-table offsets of the version names in a .gnu.version_r section: a chain of Verneed
 * entries (one per library), each with a chain of Vernaux entries (one per version it needs).
 * The chains link by relative offsets, which only move forward, and both walks are capped.
 */
function neededVersionNames(table: Buffer, decoder: Decoder): Set<number> {
  const names = new Set<number>();
  let need = 0;
  for (let entry = 0; entry < MAX_VERNEED_ENTRIES; entry++) {
    if (need + VERNEED_ENTRY_BYTES > table.length) break;
    const auxCount = decoder.u16(table, need + 2);
    addAuxNames(table, decoder, need + decoder.u32(table, need + 8), auxCount, names);
    const next = decoder.u32(table, need + 12);
    if (next === 0 || names.size >= MAX_NEEDED_VERSIONS) break;
    need += next;
  }
  return names;
}

function addAuxNames(
  table: Buffer,
  decoder: Decoder,
  first: number,
  count: number,
  names: Set<number>,
): void {
  let aux = first;
  for (let i = 0; i < count && names.size < MAX_NEEDED_VERSIONS; i++) {
    if (aux + VERNAUX_ENTRY_BYTES > table.length) return;
    names.add(decoder.u32(table, aux + 8));
    const next = decoder.u32(table, aux + 12);
    if (next === 0) return;
    aux += next;
  }
}
