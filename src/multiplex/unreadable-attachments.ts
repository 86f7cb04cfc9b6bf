import { parseNetworkConfig } from '../cni/conflist.ts';
import { asCniError } from '../base/errors.ts';
import type { CachedAttachment } from '../cache/attachment-cache.ts';

/** Where a replacement conf for an unreadable cached attachment can come from (by ifname). */
export type Replacements = () => Promise<CachedAttachment[] | undefined>;

export interface RepairedAttachments {
  attachments: CachedAttachment[];
  /** One line per attachment whose cached conf could not be read, saying what was done instead. */
  notes: string[];
}

function unreadable(att: CachedAttachment): string | undefined {
  try {
    parseNetworkConfig(att.confBytes, `cached configuration of ${att.network} (${att.ifname})`);
    return undefined;
  } catch (e) {
    return asCniError(e).message;
  }
}

/**
 * A record whose attachments are readable except one or two must not wedge DEL: a conf that
 * cannot be parsed now never will be, so retrying it would fail forever and keep the other
 * attachments' resources. Each unreadable one is replaced by the same interface's conf from
 * `replacements` (recomputed from local sources, or the new ADD's plan) keeping its cached
 * result, or else skipped; either way it is named in `notes`.
 */
export async function repairAttachments(
  attachments: CachedAttachment[],
  replacements: Replacements,
): Promise<RepairedAttachments> {
  const bad = new Map(
    attachments.flatMap((a) => {
      const why = unreadable(a);
      return why === undefined ? [] : [[a, why] as const];
    }),
  );
  if (bad.size === 0) return { attachments, notes: [] };
  const fresh = await replacements().catch(() => undefined);
  const notes: string[] = [];
  const repaired = attachments.flatMap((att) => {
    const why = bad.get(att);
    if (why === undefined) return [att];
    const other = fresh?.find((f) => f.ifname === att.ifname && unreadable(f) === undefined);
    if (other) {
      notes.push(`${why}; DEL uses the recomputed configuration of ${other.network} for ${att.ifname}`);
      return [{ ...att, confBytes: other.confBytes, network: other.network }];
    }
    notes.push(
      `${why}; nothing to recompute it from, so ${att.ifname} is skipped (whatever its delegates hold cannot be freed by braid)`,
    );
    return [];
  });
  return { attachments: repaired, notes };
}
