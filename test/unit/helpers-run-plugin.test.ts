import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../helpers/exec.ts';
import type { Netns } from '../helpers/netns.ts';
import { formatCniArgs, parseJsonOutput, pluginArgv, pluginEnv, runPlugin, stdinText } from '../helpers/run-plugin.ts';
import { cleanupTemps, makeTempDir } from '../helpers/tmp.ts';

afterEach(cleanupTemps);

describe('formatCniArgs', () => {
  it('joins pairs as K=V;K2=V2 in order and keeps a finished string as it is', () => {
    expect(formatCniArgs({ IgnoreUnknown: 'true', K8S_POD_NAMESPACE: 'ns', K8S_POD_NAME: 'p' })).toBe(
      'IgnoreUnknown=true;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p',
    );
    expect(formatCniArgs('A=1;;B')).toBe('A=1;;B');
    expect(formatCniArgs({})).toBe('');
  });
});

describe('pluginEnv', () => {
  it("sets the CNI variables the options name, CNI_PATH defaulting to Debian's plugin dir", () => {
    const env = pluginEnv({
      command: 'ADD',
      containerId: 'c1',
      netns: '/run/netns/x',
      ifname: 'eth0',
      args: { A: '1' },
    });
    expect(env).toMatchObject({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c1',
      CNI_NETNS: '/run/netns/x',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'A=1',
      CNI_PATH: '/usr/lib/cni',
    });
    expect(env.PATH).toBe(process.env.PATH);
  });

  it('leaves out what is not given and nothing of the test runner leaks in', () => {
    const env = pluginEnv({ command: 'VERSION' });
    expect(Object.keys(env).sort()).toEqual(['CNI_COMMAND', 'CNI_PATH', 'PATH']);
  });

  it('takes a namespace object, a name or a path as CNI_NETNS', () => {
    const ns = { name: 'braid-t-00000001', path: '/run/netns/braid-t-00000001' } as Netns;
    expect(pluginEnv({ command: 'ADD', netns: ns }).CNI_NETNS).toBe('/run/netns/braid-t-00000001');
    expect(pluginEnv({ command: 'ADD', netns: 'braid-t-2' }).CNI_NETNS).toBe('/run/netns/braid-t-2');
    expect(pluginEnv({ command: 'ADD', netns: '/proc/1/ns/net' }).CNI_NETNS).toBe('/proc/1/ns/net');
  });

  it('joins a CNI_PATH list with colons; extraEnv adds last and removes a key set to undefined', () => {
    const env = pluginEnv({
      command: 'ADD',
      ifname: 'eth0',
      path: ['/a', '/b'],
      extraEnv: { CNI_IFNAME: undefined, CNI_PATH: undefined, BRAID_LOG: 'debug' },
    });
    expect(env).not.toHaveProperty('CNI_IFNAME');
    expect(env).not.toHaveProperty('CNI_PATH');
    expect(env.BRAID_LOG).toBe('debug');
    expect(pluginEnv({ command: 'ADD', path: ['/a', '/b'] }).CNI_PATH).toBe('/a:/b');
  });
});

describe('pluginArgv', () => {
  it('runs the plugin directly, or through nsenter into the host namespace', () => {
    expect(pluginArgv('/bin/p')).toEqual(['/bin/p']);
    expect(pluginArgv('/bin/p', 'braid-t-host')).toEqual(['nsenter', '--net=/run/netns/braid-t-host', '--', '/bin/p']);
  });
});

describe('stdinText / parseJsonOutput', () => {
  it('sends strings as they are and values as JSON', () => {
    expect(stdinText('{bad')).toBe('{bad');
    expect(stdinText({ cniVersion: '1.0.0' })).toBe('{"cniVersion":"1.0.0"}');
    expect(stdinText(undefined)).toBe('');
  });

  it('parses a JSON object and gives undefined for empty, non-JSON or non-object output', () => {
    expect(parseJsonOutput('{"code":7}\n')).toEqual({ code: 7 });
    expect(parseJsonOutput('')).toBeUndefined();
    expect(parseJsonOutput('panic: oops')).toBeUndefined();
    expect(parseJsonOutput('42')).toBeUndefined();
  });
});

describe('runPlugin', () => {
  function plugin(body: string): string {
    const file = join(makeTempDir('braid-t-plugin'), 'plugin');
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  }

  it('passes the environment and stdin, and returns exit code, output and parsed JSON', async () => {
    const bin = plugin(
      'read -r conf; printf \'{"cmd":"%s","ifname":"%s","conf":%s}\' "$CNI_COMMAND" "$CNI_IFNAME" "$conf"; echo log >&2; exit 3',
    );

    const r = await runPlugin(bin, { command: 'ADD', ifname: 'net1', stdin: { name: 'n' } });

    expect(r.code).toBe(3);
    expect(r.stderr).toBe('log\n');
    expect(r.json).toEqual({ cmd: 'ADD', ifname: 'net1', conf: { name: 'n' } });
  });

  it('kills a plugin that runs past its time limit', async () => {
    const bin = plugin('exec sleep 30');

    const started = Date.now();
    const r = await runPlugin(bin, { command: 'ADD', timeoutMs: 200 });

    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('runCommand', () => {
  it('rejects when the program does not exist', async () => {
    await expect(runCommand(['/nonexistent/braid-t'])).rejects.toThrow(/cannot run \/nonexistent\/braid-t/);
  });
});
