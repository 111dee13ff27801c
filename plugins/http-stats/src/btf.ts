/**
 * A small BTF file for bpftrace (BPFTRACE_BTF): only the kernel types the program names, so that bpftrace does not
 * hold the whole kernel BTF. bpftrace 0.17 loads the kernel's BTF (/sys/kernel/btf/vmlinux, 5 MiB or more) twice
 * at start-up and keeps both copies, each with its type index, for its whole life: about 12 MiB of anonymous memory
 * that nothing reads once the program is compiled. Given a BTF file of its own, it loads that instead.
 *
 * The subset keeps, from the kernel's own BTF (so every size and offset is the running kernel's), each struct or
 * union the program names (`struct NAME`, and `task_struct` for `curtask`) and every typedef of a number (the
 * tracepoint arguments' types: u64, size_t, ...), with everything they hold by value
 * (members, arrays, typedefs, enums, function prototypes); a pointer to any other struct or union points to a
 * forward declaration of it (`struct NAME;`), so the closure stays small. A program that dereferences such a
 * pointer does not compile with the subset: the tracer then starts bpftrace again with the kernel's BTF.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const MAGIC = 0xeb9f;
const HEADER_LEN = 24;

const enum Kind {
  Int = 1,
  Ptr = 2,
  Array = 3,
  Struct = 4,
  Union = 5,
  Enum = 6,
  Fwd = 7,
  Typedef = 8,
  Volatile = 9,
  Const = 10,
  Restrict = 11,
  Func = 12,
  FuncProto = 13,
  Var = 14,
  DataSec = 15,
  Float = 16,
  DeclTag = 17,
  TypeTag = 18,
  Enum64 = 19,
}

interface RawType {
  offset: number;
  length: number;
  kind: number;
  vlen: number;
  name: number;
  sizeOrType: number;
}

/** Bytes after the 12-byte btf_type header, per kind. Undefined for a kind this parser does not know. */
function extraLength(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case Kind.Int:
    case Kind.Var:
    case Kind.DeclTag:
      return 4;
    case Kind.Array:
      return 12;
    case Kind.Struct:
    case Kind.Union:
    case Kind.DataSec:
    case Kind.Enum64:
      return 12 * vlen;
    case Kind.Enum:
    case Kind.FuncProto:
      return 8 * vlen;
    case Kind.Ptr:
    case Kind.Fwd:
    case Kind.Typedef:
    case Kind.Volatile:
    case Kind.Const:
    case Kind.Restrict:
    case Kind.Func:
    case Kind.Float:
    case Kind.TypeTag:
      return 0;
    default:
      return undefined;
  }
}

/** The kernel types a bpftrace program names: `struct X` / `union X` in its text, `task_struct` for `curtask`. */
export function btfRootTypes(program: string): string[] {
  const text = program.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const names = new Set<string>();
  for (const match of text.matchAll(/\b(?:struct|union)\s+([A-Za-z_]\w*)/g)) names.add(match[1]!);
  if (/\bcurtask\b/.test(text)) names.add('task_struct');
  return [...names].sort();
}

/**
 * Why `program` needs the kernel's whole BTF (its kfunc/kretfunc/fentry/fexit/iter probes read the kernel's function
 * and iterator types), or undefined when the subset of {@link btfRootTypes} serves it.
 */
export function needsWholeBtf(program: string): string | undefined {
  const text = program.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const probe = /(?:^|[\s,}])(kfunc|kretfunc|fentry|fexit|iter):/m.exec(text)?.[1];
  return probe === undefined ? undefined : `its ${probe} probes need the kernel's function types`;
}

/**
 * The part of a raw BTF blob (little-endian, as /sys/kernel/btf/vmlinux on x86_64 and arm64) that holds the structs
 * and unions named in `roots` (see the module comment). Throws a TypeError when the blob is not BTF this parser
 * knows (bad magic, an unknown kind, sections out of bounds) or when a root is not in it.
 */
export function subsetBtf(raw: Uint8Array, roots: readonly string[]): Buffer {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (buf.length < HEADER_LEN || buf.readUInt16LE(0) !== MAGIC) throw new TypeError('not little-endian BTF (bad magic)');
  const hdrLen = buf.readUInt32LE(4);
  const typeOff = hdrLen + buf.readUInt32LE(8);
  const typeLen = buf.readUInt32LE(12);
  const strOff = hdrLen + buf.readUInt32LE(16);
  const strLen = buf.readUInt32LE(20);
  if (hdrLen < HEADER_LEN || typeOff + typeLen > buf.length || strOff + strLen > buf.length) throw new TypeError('BTF sections out of bounds');

  const nameAt = (offset: number): string => {
    if (offset === 0) return '';
    const start = strOff + offset;
    const end = buf.indexOf(0, start);
    return buf.toString('latin1', start, end < 0 || end > strOff + strLen ? strOff + strLen : end);
  };

  // Type offsets by id (1..count; 0 is void), in a typed array: the kernel has 100,000+ types, and one object each
  // would grow the V8 heap of the plugin's process for good.
  let count = 0;
  for (let at = typeOff; at < typeOff + typeLen; count++) {
    const info = buf.readUInt32LE(at + 4);
    const extra = extraLength((info >>> 24) & 0x1f, info & 0xffff);
    if (extra === undefined) throw new TypeError(`BTF kind ${(info >>> 24) & 0x1f} not supported (type ${count + 1})`);
    at += 12 + extra;
  }
  const offsets = new Uint32Array(count + 1);
  for (let at = typeOff, id = 1; id <= count; id++) {
    offsets[id] = at;
    const info = buf.readUInt32LE(at + 4);
    at += 12 + extraLength((info >>> 24) & 0x1f, info & 0xffff)!;
  }
  const VOID: RawType = { offset: 0, length: 0, kind: 0, vlen: 0, name: 0, sizeOrType: 0 };
  const types = {
    length: count + 1,
    at(id: number): RawType | undefined {
      if (id === 0) return VOID;
      if (!(id > 0 && id <= count)) return undefined;
      const offset = offsets[id]!;
      const info = buf.readUInt32LE(offset + 4);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      return { offset, length: 12 + extraLength(kind, vlen)!, kind, vlen, name: buf.readUInt32LE(offset), sizeOrType: buf.readUInt32LE(offset + 8) };
    },
  };

  const rootSet = new Set(roots);
  const rootIds = new Map<string, number>();
  for (let id = 1; id < types.length; id++) {
    const t = types.at(id)!;
    if ((t.kind === Kind.Struct || t.kind === Kind.Union) && t.name !== 0 && t.vlen > 0) {
      const name = nameAt(t.name);
      if (rootSet.has(name) && !rootIds.has(name)) rootIds.set(name, id);
    }
  }
  const missing = roots.filter((name) => !rootIds.has(name));
  // Tracepoint arguments are declared with the kernel's scalar typedefs (u64, size_t, pid_t, ...): bpftrace's
  // definitions of them come from this BTF too, so every typedef of a number (or of a pointer to one) is kept.
  const scalar = (id: number, depth = 0): boolean => {
    const t = types.at(id);
    if (id === 0) return depth > 0;
    if (!t || depth > 8) return false;
    if (t.kind === Kind.Int || t.kind === Kind.Float || t.kind === Kind.Enum || t.kind === Kind.Enum64) return true;
    if (t.kind === Kind.Typedef || t.kind === Kind.Const || t.kind === Kind.Volatile || t.kind === Kind.Restrict || t.kind === Kind.Ptr) return scalar(t.sizeOrType, depth + 1);
    return false;
  };
  const scalarTypedefs: number[] = [];
  for (let id = 1; id < types.length; id++) if (types.at(id)!.kind === Kind.Typedef && scalar(id)) scalarTypedefs.push(id);
  if (missing.length > 0) throw new TypeError(`kernel BTF has no struct or union ${missing.join(', ')}`);

  // Closure. A pointer to a non-root struct/union points to a forward declaration (named) or to void (anonymous).
  const kept = new Set<number>();
  const fwdFor = new Map<number, number>(); // struct id -> placeholder, resolved to a new id below
  const pointerTarget = new Map<number, number | 'void'>(); // ptr id -> struct id replaced by a forward
  const isRootId = new Set(rootIds.values());
  const stack = [...rootIds.values(), ...scalarTypedefs];
  const visit = (id: number) => {
    if (id !== 0 && !kept.has(id)) stack.push(id);
  };
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (kept.has(id)) continue;
    if (id >= types.length) throw new TypeError(`BTF type ${id} out of range`);
    kept.add(id);
    const t = types.at(id)!;
    const u32 = (i: number) => buf.readUInt32LE(t.offset + 12 + i * 4);
    switch (t.kind) {
      case Kind.Ptr: {
        const target = types.at(t.sizeOrType);
        if (target && (target.kind === Kind.Struct || target.kind === Kind.Union) && !isRootId.has(t.sizeOrType)) {
          if (target.name === 0) pointerTarget.set(id, 'void');
          else {
            pointerTarget.set(id, t.sizeOrType);
            fwdFor.set(t.sizeOrType, 0);
          }
        } else visit(t.sizeOrType);
        break;
      }
      case Kind.Typedef:
      case Kind.Volatile:
      case Kind.Const:
      case Kind.Restrict:
      case Kind.TypeTag:
      case Kind.Func:
      case Kind.Var:
      case Kind.DeclTag:
        visit(t.sizeOrType);
        break;
      case Kind.Array:
        visit(u32(0));
        visit(u32(1));
        break;
      case Kind.Struct:
      case Kind.Union:
        for (let i = 0; i < t.vlen; i++) visit(u32(i * 3 + 1));
        break;
      case Kind.FuncProto:
        visit(t.sizeOrType);
        for (let i = 0; i < t.vlen; i++) visit(u32(i * 2 + 1));
        break;
      case Kind.DataSec:
        for (let i = 0; i < t.vlen; i++) visit(u32(i * 3));
        break;
      default:
        break;
    }
  }
  // A struct that is kept whole needs no forward declaration.
  for (const id of [...fwdFor.keys()]) if (kept.has(id)) fwdFor.delete(id);

  // New ids: kept types in their original order, then one forward declaration per struct/union only pointed to.
  const newId = new Map<number, number>([[0, 0]]);
  const order = [...kept].sort((a, b) => a - b);
  order.forEach((id, i) => newId.set(id, i + 1));
  const fwdOrder = [...fwdFor.keys()].sort((a, b) => a - b);
  fwdOrder.forEach((id, i) => fwdFor.set(id, order.length + 1 + i));

  const strings: Buffer[] = [Buffer.alloc(1)];
  let strSize = 1;
  const strIndex = new Map<string, number>([['', 0]]);
  const str = (oldOffset: number): number => {
    const s = nameAt(oldOffset);
    let at = strIndex.get(s);
    if (at === undefined) {
      at = strSize;
      const bytes = Buffer.from(`${s}\0`, 'latin1');
      strings.push(bytes);
      strSize += bytes.length;
      strIndex.set(s, at);
    }
    return at;
  };
  const ref = (id: number): number => {
    const mapped = newId.get(id);
    if (mapped === undefined) throw new TypeError(`BTF type ${id} referenced but not kept`);
    return mapped;
  };

  const out: Buffer[] = [];
  for (const id of order) {
    const t = types.at(id)!;
    const b = Buffer.from(buf.subarray(t.offset, t.offset + t.length));
    b.writeUInt32LE(str(t.name), 0);
    const setU32 = (i: number, v: number) => b.writeUInt32LE(v, 12 + i * 4);
    const getU32 = (i: number) => b.readUInt32LE(12 + i * 4);
    switch (t.kind) {
      case Kind.Ptr: {
        const replaced = pointerTarget.get(id);
        // A struct only pointed to gets its forward declaration; one that is kept whole anyway (held by value
        // somewhere) is pointed to as it is.
        b.writeUInt32LE(replaced === undefined || kept.has(t.sizeOrType) ? ref(t.sizeOrType) : replaced === 'void' ? 0 : fwdFor.get(replaced)!, 8);
        break;
      }
      case Kind.Typedef:
      case Kind.Volatile:
      case Kind.Const:
      case Kind.Restrict:
      case Kind.TypeTag:
      case Kind.Func:
      case Kind.Var:
      case Kind.DeclTag:
        b.writeUInt32LE(ref(t.sizeOrType), 8);
        break;
      case Kind.Array:
        setU32(0, ref(getU32(0)));
        setU32(1, ref(getU32(1)));
        break;
      case Kind.Struct:
      case Kind.Union:
        for (let i = 0; i < t.vlen; i++) {
          setU32(i * 3, str(getU32(i * 3)));
          setU32(i * 3 + 1, ref(getU32(i * 3 + 1)));
        }
        break;
      case Kind.Enum:
        for (let i = 0; i < t.vlen; i++) setU32(i * 2, str(getU32(i * 2)));
        break;
      case Kind.Enum64:
        for (let i = 0; i < t.vlen; i++) setU32(i * 3, str(getU32(i * 3)));
        break;
      case Kind.FuncProto:
        b.writeUInt32LE(ref(t.sizeOrType), 8);
        for (let i = 0; i < t.vlen; i++) {
          setU32(i * 2, str(getU32(i * 2)));
          setU32(i * 2 + 1, ref(getU32(i * 2 + 1)));
        }
        break;
      case Kind.DataSec:
        for (let i = 0; i < t.vlen; i++) setU32(i * 3, ref(getU32(i * 3)));
        break;
      default:
        break;
    }
    out.push(b);
  }
  for (const id of fwdOrder) {
    const t = types.at(id)!;
    const b = Buffer.alloc(12);
    b.writeUInt32LE(str(t.name), 0);
    b.writeUInt32LE(((Kind.Fwd << 24) | (t.kind === Kind.Union ? 0x80000000 : 0)) >>> 0, 4);
    out.push(b);
  }

  const typeSection = Buffer.concat(out);
  const strSection = Buffer.concat(strings);
  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt16LE(MAGIC, 0);
  header.writeUInt8(buf.readUInt8(2), 2); // version
  header.writeUInt8(0, 3); // flags
  header.writeUInt32LE(HEADER_LEN, 4);
  header.writeUInt32LE(0, 8);
  header.writeUInt32LE(typeSection.length, 12);
  header.writeUInt32LE(typeSection.length, 16);
  header.writeUInt32LE(strSection.length, 20);
  return Buffer.concat([header, typeSection, strSection]);
}

/** A BTF file written for one bpftrace run, and how to remove it. */
export interface BtfFile {
  path: string;
  /** Its size. */
  bytes: number;
  remove(): Promise<void>;
}

/** This module as the child process imports it (the built one when this runs from the TypeScript sources, in tests). */
function modulePath(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts') ? join(dirname(here), '../dist/btf.js') : here;
}

/** In the child process: reads the kernel's BTF, writes the subset. */
export async function writeSubsetFile(source: string, destination: string, ...roots: string[]): Promise<void> {
  await writeFile(destination, subsetBtf(await readFile(source), roots), { mode: 0o644 });
}

/**
 * Writes the subset of the kernel's BTF (`sysRoot`/kernel/btf/vmlinux) that `program` needs into a fresh temporary
 * directory (os.tmpdir(), else /dev/shm for a read-only root filesystem). The work is done by a short-lived child
 * Node process: reading and walking 5 MiB of BTF in this process would leave its heap and malloc arenas larger for
 * good (about 10 MiB of RSS, measured), which is what this saves in bpftrace. Rejects when the kernel has no BTF, the
 * subset cannot be made (the child's message) or no directory is writable: the caller then leaves bpftrace to load
 * the kernel's BTF itself.
 */
export async function writeProgramBtf(program: string, sysRoot = '/sys', signal?: AbortSignal): Promise<BtfFile> {
  const whole = needsWholeBtf(program);
  if (whole !== undefined) throw new Error(whole);
  const roots = btfRootTypes(program);
  let dir: string | undefined;
  let lastError: unknown;
  for (const base of [tmpdir(), '/dev/shm']) {
    try {
      dir = await mkdtemp(join(base, 'http-stats-btf-'));
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (dir === undefined) throw lastError instanceof Error ? lastError : new Error(String(lastError));
  const made = dir;
  const remove = () => rm(made, { recursive: true, force: true });
  const path = join(dir, 'vmlinux.btf');
  const script = 'const [m, ...a] = process.argv.slice(1); await (await import(m)).writeSubsetFile(...a);';
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script, pathToFileURL(modulePath()).href, join(sysRoot, 'kernel/btf/vmlinux'), path, ...roots],
        { timeout: BTF_SUBSET_TIMEOUT_MS, maxBuffer: 64 * 1024, ...(signal ? { signal } : {}) },
        (error, _stdout, stderr) => {
          if (!error) return resolve();
          const said = /(?:TypeError|Error): ([^\n]+)/.exec(stderr)?.[1];
          reject(new Error(said ?? error.message, { cause: error }));
        },
      );
    });
    return { path, bytes: (await stat(path)).size, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** How long the child may take (a fraction of a second on an idle machine). */
export const BTF_SUBSET_TIMEOUT_MS = 30_000;
