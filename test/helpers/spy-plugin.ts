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
  /** The plugin's whole environment (CNI_* included), to check what a runtime passed beside the protocol. */
  environment: Record<string, string>;
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

/**
 * One jq run per call (jq start-up dominates the spy's run time): it decodes the control file and
 * stdin and prints shell assignments for the log line, the mode, the output and the exit code.
 */
const DECIDE = `
($ctl | fromjson? // {}) as $c
| ($stdin | fromjson? // null) as $conf
| (if ($conf | type) == "object" then ($conf.cniVersion // "0.1.0") else "0.1.0" end) as $v
| ($c.supportedVersions // ${ALL_VERSIONS}) as $sup
| (if $c.onlyFor then (if ($c.onlyFor | index($cmd)) != null then ($c.mode // "passthrough") else "passthrough" end)
   elif $cmd == "VERSION" then "passthrough" else ($c.mode // "passthrough") end) as $mode
| {
    command: $cmd,
    env: ($ENV | with_entries(select(.key | startswith("CNI_")))),
    environment: $ENV,
    stdin: $stdin,
    pid: $pid,
    time: ((now * 1000000 | floor | tostring) + "000")
  } as $log
| (if $mode == "error" then
     ({code: ($c.code // 11), msg: ($c.msg // "spy error")} + (if $c.details then {details: $c.details} else {} end) | tojson) as $body
     | if $c.stream == "stderr" then {out: "", err: $body} else {out: $body, err: ""} end + {rc: ($c.exitCode // 1)}
   elif $mode == "garbage" then {out: ($c.msg // "this is not JSON <<<"), err: "", rc: ($c.exitCode // 1)}
   elif $mode == "result" then {out: (if $cmd == "ADD" then ($c.result | tojson) else "" end), err: "", rc: 0}
   elif $cmd == "VERSION" then {out: ({cniVersion: "1.1.0", supportedVersions: $sup} | tojson), err: "", rc: 0}
   elif ($sup | index($v)) == null then
     {out: ({code: 1, msg: "incompatible CNI versions",
             details: ("config is \\"" + $v + "\\", plugin supports " + ($sup | tostring))} | tojson), err: "", rc: 1}
   elif $cmd != "ADD" then {out: "", err: "", rc: 0}
   elif $conf.prevResult then {out: ($conf.prevResult | tojson), err: "", rc: 0}
   else ($c.address // "10.99.0.2/24") as $addr
     | {err: "", rc: 0, out: (
         if ($v | test("^0\\\\.[12]\\\\.")) then {cniVersion: $v, ip4: {ip: $addr}}
         elif ($v | test("^0\\\\.")) then
           {cniVersion: $v, interfaces: [{name: $ifname, sandbox: $netns}], ips: [{version: "4", address: $addr, interface: 0}]}
         else {cniVersion: $v, interfaces: [{name: $ifname, sandbox: $netns}], ips: [{address: $addr, interface: 0}]} end
         | tojson)}
   end) as $r
| "log=\\($log | tojson | @sh)\\nmode=\\($mode | @sh)\\nsleep=\\($c.sleepSeconds // 1 | tostring | @sh)\\nout=\\($r.out | @sh)\\nerr=\\($r.err | @sh)\\nrc=\\($r.rc)"
`;

function script(dir: string, name: string): string {
  return `#!/bin/sh
# spy CNI plugin written by test/helpers/spy-plugin.ts
dir=${shQuote(dir)}
name=${shQuote(name)}
stdin=$(cat)
ctl=
[ -f "$dir/$name.control.json" ] && ctl=$(cat "$dir/$name.control.json")
eval "$(jq -rn --arg cmd "$CNI_COMMAND" --arg stdin "$stdin" --arg ctl "$ctl" --argjson pid $$ \\
  --arg ifname "$CNI_IFNAME" --arg netns "$CNI_NETNS" ${shQuote(DECIDE)})"
printf '%s\\n' "$log" >> "$dir/$name.calls.jsonl"
echo "spy $name: $CNI_COMMAND" >&2
if [ "$mode" = sleep ]; then
  sleep "$sleep" &
  echo $! > "$dir/$name.sleep.pid"
  wait $!
fi
[ -n "$err" ] && printf '%s\\n' "$err" >&2
[ -n "$out" ] && printf '%s\\n' "$out"
exit "$rc"
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
        const raw = JSON.parse(line) as Omit<SpyCall, 'config' | 'time'> & { time: string };
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
