import { fstatSync, readFileSync } from 'node:fs';
import { nodeNamespaceOf, refuseNodeNetns } from './node-netns.ts';
import { trace } from '../base/trace.ts';
import { resultToVersion } from './convert.ts';
import { CniCode, CniError, asCniError } from '../base/errors.ts';
import { type CniEnv, type CniRequest, parseRequest, versionOfAnyInput } from './request.ts';
import type { CniResult, CniVersionInfo } from './result.ts';

/**
 * The plugin side of the protocol, shared by `braid` and `braid-veth`: read the request, call
 * the verb's handler, print the result or the error on stdout (B1) and return the exit code.
 */

export interface PluginHandlers {
  /** Versions the plugin accepts, oldest first. */
  supportedVersions: readonly string[];
  add(req: CniRequest): Promise<CniResult>;
  del(req: CniRequest): Promise<void>;
  check(req: CniRequest): Promise<void>;
  status(req: CniRequest): Promise<void>;
  gc(req: CniRequest): Promise<void>;
}

/** The same verbs, each called with `f(req)` instead of `req` (what a process adds to every call). */
export function withRequests(handlers: PluginHandlers, f: (req: CniRequest) => CniRequest): PluginHandlers {
  return {
    supportedVersions: handlers.supportedVersions,
    add: (req) => handlers.add(f(req)),
    del: (req) => handlers.del(f(req)),
    check: (req) => handlers.check(f(req)),
    status: (req) => handlers.status(f(req)),
    gc: (req) => handlers.gc(f(req)),
  };
}

/** What one invocation prints and returns. */
export interface PluginOutcome {
  exitCode: number;
  /** The JSON object for stdout, if any. */
  output?: Record<string, unknown>;
}

/** Reads a whole stream; a failure is an I/O error (A6, code 5). */
export async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return Buffer.concat(chunks).toString('utf8');
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `error reading network config from stdin: ${(e as Error).message}`);
  }
}

/**
 * Stdin that is a regular file (the front door hands a thin call its stdin as a memfd) is read at
 * once: process.stdin's stream reads it through the thread pool, which cost a thin call ~4 ms.
 * Pipes and sockets keep the stream: a non-blocking one could fail a synchronous read halfway.
 * Undefined when stdin is not a regular file or cannot be read so (the stream then reports why).
 */
function readRegularFileStdin(): string | undefined {
  try {
    return fstatSync(0).isFile() ? readFileSync(0, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

/** H2: VERSION echoes the input's version when it is one we speak. */
export function versionReply(stdin: string, supportedVersions: readonly string[]): CniVersionInfo {
  return { cniVersion: versionOfAnyInput(stdin, supportedVersions), supportedVersions: [...supportedVersions] };
}

/** Runs the handler for a parsed request; only ADD and VERSION produce output. */
export async function dispatch(
  handlers: PluginHandlers,
  req: CniRequest,
  rawStdin: string,
): Promise<Record<string, unknown> | undefined> {
  switch (req.command) {
    case 'VERSION':
      return { ...versionReply(rawStdin, handlers.supportedVersions) };
    case 'ADD':
      return resultToVersion(await handlers.add(req), req.cniVersion);
    case 'DEL':
      await handlers.del(req);
      return undefined;
    case 'CHECK':
      await handlers.check(req);
      return undefined;
    case 'STATUS':
      await handlers.status(req);
      return undefined;
    case 'GC':
      await handlers.gc(req);
      return undefined;
  }
}

/**
 * ADD and CHECK in the node's own namespace are refused; a DEL naming it runs without a
 * namespace (delegates then only free what they reserved), so that it can never remove the
 * node's interfaces and never wedges.
 */
function guardNodeNetns(req: CniRequest): CniRequest {
  if (req.command === 'ADD' || req.command === 'CHECK') refuseNodeNetns(req.netns);
  if (req.command === 'DEL' && nodeNamespaceOf(req.netns) !== undefined) {
    process.stderr.write(
      `braid: DEL names the node's own network namespace ${req.netns} as CNI_NETNS; running it without one\n`,
    );
    return { ...req, netns: '' };
  }
  return req;
}

/** Everything between the raw input and what is printed; never throws. */
export async function handleInvocation(handlers: PluginHandlers, env: CniEnv, stdin: string): Promise<PluginOutcome> {
  let req: CniRequest | undefined;
  try {
    req = parseRequest(env, stdin, handlers.supportedVersions);
    req = guardNodeNetns(req);
    const output = await dispatch(handlers, req, stdin);
    return output ? { exitCode: 0, output } : { exitCode: 0 };
  } catch (e) {
    const version = req?.cniVersion ?? versionOfAnyInput(stdin, handlers.supportedVersions);
    return { exitCode: 1, output: asCniError(e).toJSON(version) };
  }
}

function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    out.write(text, () => resolve());
  });
}

/**
 * The plugin main. Reads stdin unless `stdinText` is given; VERSION from a terminal does not
 * wait for stdin, since it needs none (H1).
 */
export async function runPlugin(
  handlers: PluginHandlers,
  env: CniEnv = process.env,
  stdinText?: string,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  let stdin = stdinText;
  if (stdin === undefined) {
    if (env.CNI_COMMAND === 'VERSION' && process.stdin.isTTY) stdin = '';
    else {
      try {
        stdin = readRegularFileStdin() ?? (await readStdin(process.stdin));
      } catch (e) {
        const err = asCniError(e, CniCode.IoFailure);
        await write(out, `${JSON.stringify(err.toJSON(versionOfAnyInput('', handlers.supportedVersions)))}\n`);
        return 1;
      }
    }
  }
  trace('stdin read');
  const outcome = await handleInvocation(handlers, env, stdin);
  if (outcome.output) await write(out, `${JSON.stringify(outcome.output)}\n`);
  trace('answered');
  return outcome.exitCode;
}
