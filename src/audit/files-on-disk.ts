import type { Dirent } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { isUnderMediaRoot } from '../media/media-file.ts';
import { NameSet } from '../media/name-set.ts';

/**
 * What MEDIA_ROOT holds, read once up front so that each of a million references is a look-up in
 * memory: asked one by one, the file system made the audit wait on a `realpath` per reference (a
 * thread-pool round trip each, the process idle 75% of the time). Names are kept as hashes, 8 bytes a
 * file. Symlinks keep the meaning the worker gives them (a link counts when its target is a file
 * inside MEDIA_ROOT): when the walk meets one, a name not found is asked of the file system too.
 */
export class FilesOnDisk {
  private constructor(
    private readonly root: string,
    private readonly names: NameSet,
    private readonly links: boolean,
  ) {}

  static async read(root: string): Promise<FilesOnDisk> {
    const names = new NameSet();
    let links = false;
    for await (const { full, entry } of entriesUnder(root)) {
      if (entry.isFile()) names.add(nameOf(root, full));
      else if (entry.isSymbolicLink()) links = true;
    }
    return new FilesOnDisk(root, names, links);
  }

  /** Is there a file at this key (what fileKey made of a reference's name)? */
  async has(key: string): Promise<boolean> {
    if (this.names.has(key)) return true;
    return this.links && (await isUnderMediaRoot(this.root, key));
  }
}

/**
 * The one spelling of a name under MEDIA_ROOT that the walk and the references are compared in:
 * forward slashes, `.` and doubled slashes gone. Undefined for what would leave MEDIA_ROOT.
 */
export function fileKey(name: string): string | undefined {
  const n = name.replace(/\\/g, '/');
  if (n.includes('\0') || n.startsWith('/') || /^[A-Za-z]:\//.test(n) || n.split('/').includes('..')) return undefined;
  const key = posix.normalize(n);
  return key === '.' ? undefined : key.replace(/\/$/, '');
}

/** Every regular file under MEDIA_ROOT with its size, stat'ed side by side 256 at a time. */
export async function* filesUnder(root: string): AsyncGenerator<{ path: string; bytes: number }> {
  let files: string[] = [];
  const flush = async () => {
    // A file deleted since its folder was listed is simply no longer there.
    const sizes = await Promise.all(files.map((f) => stat(f).then((s) => s.size, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? -1 : Promise.reject(err)))));
    const out = files.map((f, i) => ({ path: nameOf(root, f), bytes: sizes[i]! })).filter((f) => f.bytes >= 0);
    files = [];
    return out;
  };
  for await (const { full, entry } of entriesUnder(root)) {
    if (!entry.isFile()) continue;
    files.push(full);
    if (files.length === 256) yield* await flush();
  }
  yield* await flush();
}

/** Every entry under a folder but the folders themselves, one folder open at a time. */
async function* entriesUnder(root: string): AsyncGenerator<{ full: string; entry: Dirent }> {
  const folders = [root];
  while (folders.length > 0) {
    const dir = folders.pop()!;
    for await (const entry of await opendir(dir)) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) folders.push(full);
      else yield { full, entry };
    }
  }
}

function nameOf(root: string, full: string): string {
  return relative(root, full).split(sep).join('/');
}
