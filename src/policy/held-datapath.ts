import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDatapath, mapDir, type PolicyPrograms } from './datapath.ts';
import { MAP_NAMES } from './layout.ts';
import { PolicyMaps } from './maps.ts';

/**
 * braid-agent's policy programs and maps, opened once and kept for every call. They are opened
 * again only when the pinned maps were replaced (another build loaded, a wiped pin root): the
 * inode of the pinned interface map tells.
 */
export class HeldDatapath {
  private progs: PolicyPrograms | undefined;
  private held: PolicyMaps | undefined;
  private inode: number | undefined;

  constructor(private readonly opts: { bpfRoot: string; stateDir: string; objectPath?: string | undefined }) {}

  private pinInode(): number | undefined {
    try {
      return statSync(join(mapDir(this.opts.bpfRoot), MAP_NAMES.iface)).ino;
    } catch {
      return undefined;
    }
  }

  private stale(): boolean {
    return this.inode === undefined || this.pinInode() !== this.inode;
  }

  /** Programs and maps, loading the object on first use; both are reopened together when the pins changed. */
  private refresh(): { progs: PolicyPrograms; maps: PolicyMaps } {
    if (!this.progs || !this.held || this.stale()) {
      this.close();
      this.progs = ensureDatapath(this.opts.bpfRoot, this.opts.stateDir, this.opts.objectPath);
      this.held = PolicyMaps.open(this.opts.bpfRoot);
      this.inode = this.pinInode();
    }
    return { progs: this.progs, maps: this.held };
  }

  programs(): PolicyPrograms {
    return this.refresh().progs;
  }

  /**
   * The maps alone. Where the datapath is already pinned they are opened without loading the
   * object (DEL and GC only read and delete entries); where it is not, the object is loaded.
   */
  maps(): PolicyMaps {
    if (this.held && !this.stale()) return this.held;
    if (!this.loaded()) return this.refresh().maps;
    // Pins replaced: the programs opened with the old maps go too.
    this.close();
    this.held = PolicyMaps.open(this.opts.bpfRoot);
    this.inode = this.pinInode();
    return this.held;
  }

  /** Whether the datapath has been loaded under the pin root at all (nothing is loaded to answer). */
  loaded(): boolean {
    return this.pinInode() !== undefined;
  }

  close(): void {
    this.progs?.close();
    this.held?.close();
    this.progs = undefined;
    this.held = undefined;
    this.inode = undefined;
  }
}
