import { describe, expect, it } from 'vitest';
import { parseAgentOptions } from '../../../src/agent/options.ts';
import { DEFAULT_AGENT_SOCKET, agentSocketOf, cniEnvironment, requestProblem } from '../../../src/agent/protocol.ts';
import { CONF_DEFAULTS, loadBraidConf } from '../../../src/config/conf.ts';

describe('hand-over protocol', () => {
  it('finds agentSocket in a conf, in the braid plugin of a conflist, or uses the default', () => {
    expect(agentSocketOf(JSON.stringify({ type: 'braid', agentSocket: '/tmp/a.sock' }))).toBe('/tmp/a.sock');
    const list = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'braid', agentSocket: '' }, { type: 'portmap', agentSocket: '/x' }] };
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

  it('forwards only the CNI_* variables and checks request bodies', () => {
    expect(cniEnvironment({ CNI_COMMAND: 'ADD', CNI_PATH: '/opt/cni/bin', PATH: '/usr/bin', HOME: '/root' })).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_PATH: '/opt/cni/bin',
    });
    expect(requestProblem({ env: { CNI_COMMAND: 'ADD' }, stdin: '{}' })).toBeUndefined();
    expect(requestProblem([])).toMatch(/not a JSON object/);
    expect(requestProblem({ env: { CNI_COMMAND: 1 }, stdin: '' })).toMatch(/env.CNI_COMMAND must be a string/);
    expect(requestProblem({ env: {}, stdin: 3 })).toMatch(/"stdin" must be a string/);
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
      ['--socket', '/tmp/s', '--max-concurrent', '3', '--metrics-address', '127.0.0.1:0', '--no-policy', '--node-name', 'n1', '--shutdown-grace', '2'],
      {},
    );
    expect(o).toMatchObject({ socketPath: '/tmp/s', maxConcurrent: 3, metricsAddress: { host: '127.0.0.1', port: 0 }, policy: false, nodeName: 'n1', shutdownGraceMs: 2000 });
    expect(parseAgentOptions(['--metrics-address', 'off'], {})).toMatchObject({ metricsAddress: undefined });
    expect(parseAgentOptions(['--help'], {})).toBe('help');
    expect(() => parseAgentOptions(['--max-concurrent', '0'], {})).toThrow(/--max-concurrent/);
    expect(() => parseAgentOptions(['--metrics-address', 'nowhere'], {})).toThrow(/--metrics-address/);
    expect(() => parseAgentOptions(['--bogus'], {})).toThrow(/bogus/);
  });
});
