/**
 * Whether this process serves many CNI calls (braid-agent) or one (a plugin process). Choices
 * that trade start-up cost against per-call cost ask here: a plugin process must not load what
 * it will use once, a long-lived process should keep what every call needs (the native netlink
 * binding, keep-alive connections to the API server).
 */
let longLived = false;

export function markLongLived(): void {
  longLived = true;
}

export function isLongLived(): boolean {
  return longLived;
}
