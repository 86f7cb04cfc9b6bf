import { describe, expect, it } from 'vitest';
import { parseAgentOptions } from '../../../src/agent/options.ts';
import {
  DEFAULT_AGENT_SOCKET,
  MAX_REQUEST_BYTES,
  agentSocketOf,
  handOverEnvironment,
  requestProblem,
} from '../../../src/agent/protocol.ts';
import { CONF_DEFAULTS, loadBraidConf } from '../../../src/config/conf.ts';

describe('hand-over protocol', () => {
  it('finds agentSocket in a conf, in the braid plugin of a conflist, or uses the default', () => {
    expect(agentSocketOf(JSON.stringify({ type: 'braid', agentSocket: '/tmp/a.sock' }))).toBe('/tmp/a.sock');
    const list = {
      cniVersion: '1.0.0',
      name: 'n',
      plugins: [
        { type: 'braid', agentSocket: '' },
        { type: 'portmap', agentSocket: '/x' },
      ],
    };
    expect(agentSocketOf(JSON.stringify(list))).toBe('');
    expect(agentSocketOf(JSON.stringify({ type: 'braid' }))).toBe(DEFAULT_AGENT_SOCKET);
    expect(agentSocketOf('not json')).toBe(DEFAULT_AGENT_SOCKET);
    expect(DEFAULT_AGENT_SOCKET).toBe(CONF_DEFAULTS.agentSocket);
  });

  it('is a braid conf key: validated, defaulted, and empty allowed', () => {
    const base = { cniVersion: '1.0.0', name: 'braid', type: 'braid', clusterNetwork: 'cluster' };
    expect(loadBraidConf(base).agentSocket).toBe('/run/braid/braid.sock');
    expect(loadBraidConf({ ...base, agentSocket: '' }).agentSocket).toBe('');
    expect(() => loadBraidConf({ ...base, agentSocket: 'relative.sock' })).toThrow(/agentSocket/);
  });

  it('forwards the whole environment the runtime gave the plugin, not only CNI_*', () => {
    const runtimeEnv = {
      CNI_COMMAND: 'ADD',
      CNI_PATH: '/opt/cni/bin',
      PATH: '/usr/bin',
      HTTPS_PROXY: 'http://proxy:3128',
      UNSET: undefined,
    };
    const env = handOverEnvironment(runtimeEnv);
    expect(env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_PATH: '/opt/cni/bin',
      PATH: '/usr/bin',
      HTTPS_PROXY: 'http://proxy:3128',
    });
    // What the client sends is a request the agent accepts.
    expect(requestProblem(JSON.parse(JSON.stringify({ env, stdin: '{}' })))).toBeUndefined();
  });

  it('accepts only an env of strings that can be a process environment', () => {
    expect(requestProblem({ env: { CNI_COMMAND: 'ADD', PATH: '/bin', EMPTY: '' }, stdin: '{}' })).toBeUndefined();
    expect(requestProblem([])).toMatch(/not a JSON object/);
    expect(requestProblem({ stdin: '' })).toMatch(/"env" must be an object of strings/);
    expect(requestProblem({ env: ['CNI_COMMAND=ADD'], stdin: '' })).toMatch(/"env" must be an object of strings/);
    expect(requestProblem({ env: null, stdin: '' })).toMatch(/"env" must be an object of strings/);
    expect(requestProblem({ env: { CNI_COMMAND: 1 }, stdin: '' })).toMatch(/env.CNI_COMMAND must be a string/);
    expect(requestProblem({ env: { HTTP_PROXY: null }, stdin: '' })).toMatch(/env.HTTP_PROXY must be a string/);
    expect(requestProblem({ env: { LIST: ['a'] }, stdin: '' })).toMatch(/env.LIST must be a string/);
    expect(requestProblem({ env: { '': 'x' }, stdin: '' })).toMatch(/invalid variable name ""/);
    expect(requestProblem({ env: { 'A=B': 'x' }, stdin: '' })).toMatch(/invalid variable name "A=B"/);
    expect(requestProblem({ env: { 'A\0B': 'x' }, stdin: '' })).toMatch(/invalid variable name/);
    expect(requestProblem({ env: { A: 'x\0y' }, stdin: '' })).toMatch(/env.A contains a NUL byte/);
    expect(requestProblem({ env: {}, stdin: 3 })).toMatch(/"stdin" must be a string/);
  });

  it('reads requests large enough for the biggest environment execve allows plus a conf', () => {
    // Linux caps arguments and environment together at 6 MiB whatever the stack limit.
    expect(MAX_REQUEST_BYTES).toBeGreaterThan(6 * 1024 * 1024);
  });
});

describe('braid-agent options', () => {
  it('has defaults that fit the DaemonSet', () => {
    const o = parseAgentOptions([], { NODE_NAME: 'worker-1' });
    expect(o).toMatchObject({
      socketPath: '/run/braid/braid.sock',
      maxConcurrent: 8,
      metricsAddress: { host: '0.0.0.0', port: 9464 },
      nodeName: 'worker-1',
      policy: true,
      cacheDir: '/var/lib/cni/braid',
    });
  });

  it('reads every option and rejects bad values with the option name', () => {
    const o = parseAgentOptions(
      [
        '--socket',
        '/tmp/s',
        '--max-concurrent',
        '3',
        '--metrics-address',
        '127.0.0.1:0',
        '--no-policy',
        '--node-name',
        'n1',
        '--shutdown-grace',
        '2',
      ],
      {},
    );
    expect(o).toMatchObject({
      socketPath: '/tmp/s',
      maxConcurrent: 3,
      metricsAddress: { host: '127.0.0.1', port: 0 },
      policy: false,
      nodeName: 'n1',
      shutdownGraceMs: 2000,
    });
    expect(parseAgentOptions(['--metrics-address', 'off'], {})).toMatchObject({ metricsAddress: undefined });
    expect(parseAgentOptions(['--help'], {})).toBe('help');
    expect(() => parseAgentOptions(['--max-concurrent', '0'], {})).toThrow(/--max-concurrent/);
    expect(() => parseAgentOptions(['--metrics-address', 'nowhere'], {})).toThrow(/--metrics-address/);
    expect(() => parseAgentOptions(['--bogus'], {})).toThrow(/bogus/);
  });
});
