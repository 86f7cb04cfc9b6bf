import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRIE_KINDS, type TrieKind } from './layout.ts';

/**
 * What the reconciler last wrote into an interface's tries, kept in <stateDir>/shadow so that a
 * diff does not have to read every entry back from the kernel (two syscalls per entry, about
 * 150 ms for 10,000 prefixes here). A shadow is trusted only when it is clean and its digest is
 * the one in the kernel's interface config; it is marked dirty before any entry is touched, so
 * an interrupted update falls back to reading the kernel. bpffs does not survive a reboot, so
 * neither needs the shadow: no fsync.
 */
/** One trie's entries: the key's hex bytes to the entry's verdict bits. */
export type TrieContents = Map<string, bigint>;

export interface ShadowState {
  hash: bigint;
  tries: Record<number, Record<TrieKind, TrieContents>>;
}

interface ShadowFile {
  hash: string;
  dirty: boolean;
  tries: Record<string, Record<string, [string, string][]>>;
}

export class ShadowStore {
  constructor(readonly dir: string) {}

  private file(ifaceId: number): string {
    return join(this.dir, `${ifaceId}.json`);
  }

  private write(ifaceId: number, content: ShadowFile): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file(ifaceId)}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(content), { mode: 0o600 });
    renameSync(tmp, this.file(ifaceId));
  }

  /** The clean shadow of an interface, or undefined. */
  read(ifaceId: number): ShadowState | undefined {
    let doc: ShadowFile;
    try {
      doc = JSON.parse(readFileSync(this.file(ifaceId), 'utf8')) as ShadowFile;
    } catch {
      return undefined;
    }
    if (doc.dirty) return undefined;
    const tries: ShadowState['tries'] = {};
    for (const [dir, kinds] of Object.entries(doc.tries)) {
      const byKind = {} as Record<TrieKind, TrieContents>;
      for (const kind of TRIE_KINDS) byKind[kind] = new Map((kinds[kind] ?? []).map(([k, v]) => [k, BigInt(`0x${v}`)]));
      tries[Number(dir)] = byKind;
    }
    return { hash: BigInt(doc.hash), tries };
  }

  markDirty(ifaceId: number): void {
    this.write(ifaceId, { hash: '0', dirty: true, tries: {} });
  }

  save(ifaceId: number, state: ShadowState): void {
    const tries: ShadowFile['tries'] = {};
    for (const [dir, kinds] of Object.entries(state.tries)) {
      tries[dir] = {};
      for (const kind of TRIE_KINDS) tries[dir][kind] = [...kinds[kind]].map(([k, v]) => [k, v.toString(16)]);
    }
    this.write(ifaceId, { hash: state.hash.toString(), dirty: false, tries });
  }

  remove(ifaceId: number): void {
    rmSync(this.file(ifaceId), { force: true });
  }
}
