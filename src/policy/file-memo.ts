import { readFileSync, statSync } from 'node:fs';

/**
 * Parsed files kept across calls by a long-lived process (braid-agent's local stores): a file is
 * parsed again only when its inode, size or modification time changed (braid and the stores
 * replace files by rename, which changes the inode). A plugin process has no use for it.
 */
export class FileMemo {
  private readonly entries = new Map<string, { ino: number; size: number; mtimeMs: number; value: unknown }>();

  /** The parsed file; throws like readFileSync and `parse` do. */
  read<T>(file: string, parse: (text: string) => T): T {
    const st = statSync(file);
    const hit = this.entries.get(file);
    if (hit && hit.ino === st.ino && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.value as T;
    const value = parse(readFileSync(file, 'utf8'));
    this.entries.set(file, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, value });
    if (this.entries.size > 100_000) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  forget(file: string): void {
    this.entries.delete(file);
  }
}
