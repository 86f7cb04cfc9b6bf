/**
 * In-memory caches fed by reflectors. Each cache keeps, per object, only what the agent uses
 * (a `convert` function trims or parses it on arrival), so memory follows what braid needs, not
 * the size of the objects the API server sends.
 */
import type { ObjectMeta } from '../k8s/types.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta & { [k: string]: unknown };
  [k: string]: unknown;
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One full list: every object the list holds, then finish() (objects not seen are gone). */
export interface ListSession {
  add(obj: KubeObject): void;
  finish(): void;
}

/** Where a reflector puts what it lists and watches. */
export interface ObjectSink {
  beginList(): ListSession;
  apply(type: ChangeType, obj: KubeObject): void;
}

export function objectKey(obj: KubeObject): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

export interface CacheOptions<T> {
  /** What is kept of an object; undefined: nothing (the object is treated as absent). */
  convert: (obj: KubeObject) => T | undefined;
  /** Called when what is kept changed; `equal` decides what counts as a change. */
  onChange?: (key: string, before: T | undefined, after: T | undefined) => void;
  equal?: (a: T, b: T) => boolean;
}

function jsonEqual<T>(a: T, b: T): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class KeyedCache<T> implements ObjectSink {
  private readonly items = new Map<string, T>();

  constructor(private readonly opts: CacheOptions<T>) {}

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  values(): IterableIterator<T> {
    return this.items.values();
  }

  beginList(): ListSession {
    const seen = new Set<string>();
    return {
      add: (obj) => {
        const key = objectKey(obj);
        seen.add(key);
        this.put(key, this.opts.convert(obj));
      },
      finish: () => {
        for (const key of [...this.items.keys()]) if (!seen.has(key)) this.put(key, undefined);
      },
    };
  }

  apply(type: ChangeType, obj: KubeObject): void {
    this.put(objectKey(obj), type === 'DELETED' ? undefined : this.opts.convert(obj));
  }

  private put(key: string, after: T | undefined): void {
    const before = this.items.get(key);
    if (after === undefined) {
      if (before === undefined) return;
      this.items.delete(key);
    } else {
      this.items.set(key, after);
      if (before !== undefined && (this.opts.equal ?? jsonEqual)(before, after)) return;
    }
    this.opts.onChange?.(key, before, after);
  }
}

/** Several caches fed from one reflector (one watch of pods, kept two ways). */
export class FanOutSink implements ObjectSink {
  constructor(private readonly sinks: readonly ObjectSink[]) {}

  beginList(): ListSession {
    const sessions = this.sinks.map((s) => s.beginList());
    return {
      add: (obj) => sessions.forEach((s) => s.add(obj)),
      finish: () => sessions.forEach((s) => s.finish()),
    };
  }

  apply(type: ChangeType, obj: KubeObject): void {
    for (const s of this.sinks) s.apply(type, obj);
  }
}
