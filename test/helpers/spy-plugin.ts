import { chmodSync, existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A CNI test double: a POSIX sh script (JSON handled by jq) that logs every call and answers as
 * its control file says. Shaped after cni's `plugins/test/noop`.
 */

export type SpyMode = 'passthrough' | 'result' | 'error' | 'garbage' | 'sleep';

export interface SpyControl {
  /**
   * passthrough: ADD prints prevResult, or a minimal result (one interface named CNI_IFNAME, one
   * address) in the config's version; other verbs print nothing. result: ADD prints `result`.
   * error: prints `{code, msg, details}` and exits `exitCode` (1). garbage: prints `msg` (not
   * JSON) and exits `exitCode` (1). sleep: sleeps `sleepSeconds`, then acts as passthrough.
   */
  mode: SpyMode;
  code?: number;
  msg?: string;
  details?: string;
  result?: unknown;
  sleepSeconds?: number;
  /** What VERSION reports; configs of other versions get code 1, as from a Go skel. */
  supportedVersions?: string[];
  /** Apply `mode` only to these verbs (others: passthrough). Without it VERSION always answers normally. */
  onlyFor?: string[];
  exitCode?: number;
  /** Where `error` mode prints its JSON. */
  stream?: 'stdout' | 'stderr';
  /** Address of the minimal passthrough result; default 10.99.0.2/24. */
  address?: string;
}

export interface SpyCall {
  command: string;
  /** Every CNI_* variable the plugin saw. */
  env: Record<string, string>;
  stdin: string;
  /** stdin parsed, when it was JSON. */
  config: Record<string, any> | undefined;
  pid: number;
  /** Nanosecond wall clock at the start of the call, for ordering calls across spies. */
  time: bigint;
}

export interface SpyPlugin {
  name: string;
  dir: string;
  path: string;
  setControl(control: SpyControl): void;
  clearControl(): void;
  calls(): SpyCall[];
  /** Calls of one verb. */
  callsOf(command: string): SpyCall[];
  resetCalls(): void;
  /** Pid of the `sleep` child of the last sleep-mode call. */
  sleepPid(): number | undefined;
}

const ALL_VERSIONS = '["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]';

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function script(dir: string, name: string): string {
  return `#!/bin/sh
# spy CNI plugin written by test/helpers/spy-plugin.ts
dir=${shQuote(dir)}
name=${shQuote(name)}
control="$dir/$name.control.json"
stdin=$(cat)
now=$(date +%s%N)
ctl='{"mode":"passthrough"}'
[ -f "$control" ] && ctl=$(cat "$control")
cmd="$CNI_COMMAND"
jq -cn --arg cmd "$cmd" --arg stdin "$stdin" --argjson pid $$ --arg time "$now" \\
  '{command:$cmd, env:($ENV|with_entries(select(.key|startswith("CNI_")))), stdin:$stdin, pid:$pid, time:$time}' \\
  >> "$dir/$name.calls.jsonl"
echo "spy $name: $cmd" >&2
q() { printf '%s' "$ctl" | jq -r "$1"; }
mode=$(printf '%s' "$ctl" | jq -r --arg c "$cmd" '
  if .onlyFor then (if (.onlyFor | index($c)) != null then (.mode // "passthrough") else "passthrough" end)
  elif $c == "VERSION" then "passthrough" else (.mode // "passthrough") end')
supported=$(printf '%s' "$ctl" | jq -c '.supportedVersions // ${ALL_VERSIONS}')
if [ "$mode" = sleep ]; then
  sleep "$(q '.sleepSeconds // 1')" &
  echo $! > "$dir/$name.sleep.pid"
  wait $!
  mode=passthrough
fi
case "$mode" in
  error)
    body=$(printf '%s' "$ctl" | jq -c '{code: (.code // 11), msg: (.msg // "spy error")} + (if .details then {details} else {} end)')
    if [ "$(q '.stream // "stdout"')" = stderr ]; then echo "$body" >&2; else echo "$body"; fi
    exit "$(q '.exitCode // 1')" ;;
  garbage)
    q '.msg // "this is not JSON <<<"'
    exit "$(q '.exitCode // 1')" ;;
  result)
    [ "$cmd" = ADD ] && printf '%s' "$ctl" | jq -c '.result'
    exit 0 ;;
esac
if [ "$cmd" = VERSION ]; then
  jq -cn --argjson s "$supported" '{cniVersion: "1.1.0", supportedVersions: $s}'
  exit 0
fi
version=$(printf '%s' "$stdin" | jq -r '.cniVersion // "0.1.0"')
if ! printf '%s' "$supported" | jq -e --arg v "$version" 'index($v) != null' > /dev/null; then
  jq -cn --arg v "$version" --argjson s "$supported" \\
    '{code: 1, msg: "incompatible CNI versions", details: ("config is \\"" + $v + "\\", plugin supports " + ($s | tostring))}'
  exit 1
fi
[ "$cmd" = ADD ] || exit 0
printf '%s' "$stdin" | jq -c --arg v "$version" --arg ifname "$CNI_IFNAME" --arg netns "$CNI_NETNS" \\
  --arg addr "$(q '.address // "10.99.0.2/24"')" '
  if .prevResult then .prevResult
  elif ($v | test("^0\\\\.[12]\\\\.")) then {cniVersion: $v, ip4: {ip: $addr}}
  elif ($v | test("^0\\\\.")) then {cniVersion: $v, interfaces: [{name: $ifname, sandbox: $netns}], ips: [{version: "4", address: $addr, interface: 0}]}
  else {cniVersion: $v, interfaces: [{name: $ifname, sandbox: $netns}], ips: [{address: $addr, interface: 0}]} end'
`;
}

/** Writes an executable spy named `name` into `dir` (a CNI_PATH directory of the test). */
export function makeSpyPlugin(dir: string, name: string): SpyPlugin {
  const path = join(dir, name);
  const controlFile = join(dir, `${name}.control.json`);
  const callsFile = join(dir, `${name}.calls.jsonl`);
  const pidFile = join(dir, `${name}.sleep.pid`);
  writeFileSync(path, script(dir, name));
  chmodSync(path, 0o755);
  let versions = ALL_VERSIONS;
  let bumps = 0;

  const calls = (): SpyCall[] => {
    if (!existsSync(callsFile)) return [];
    return readFileSync(callsFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((line) => {
        const raw = JSON.parse(line) as { command: string; env: Record<string, string>; stdin: string; pid: number; time: string };
        let config: Record<string, any> | undefined;
        try {
          config = JSON.parse(raw.stdin) as Record<string, any>;
        } catch {
          config = undefined;
        }
        return { ...raw, config, time: BigInt(raw.time) };
      });
  };

  return {
    name,
    dir,
    path,
    setControl(control) {
      writeFileSync(controlFile, JSON.stringify(control));
      // A different VERSION answer is a different binary as far as version caches can tell.
      const next = JSON.stringify(control.supportedVersions ?? JSON.parse(ALL_VERSIONS));
      if (next !== versions) {
        versions = next;
        const t = Date.now() / 1000 + ++bumps;
        utimesSync(path, t, t);
      }
    },
    clearControl() {
      rmSync(controlFile, { force: true });
    },
    calls,
    callsOf: (command) => calls().filter((c) => c.command === command),
    resetCalls() {
      rmSync(callsFile, { force: true });
    },
    sleepPid() {
      return existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
    },
  };
}
