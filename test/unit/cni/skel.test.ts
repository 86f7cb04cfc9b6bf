import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CniError } from '../../../src/base/errors.ts';
import type { CniRequest } from '../../../src/cni/request.ts';
import type { CniResult } from '../../../src/cni/result.ts';
import { type PluginHandlers, handleInvocation, readStdin, runPlugin } from '../../../src/cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../../../src/cni/versions.ts';

const RESULT: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/c1', mtu: 1400 }],
  ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }],
};

function handlers(over: Partial<PluginHandlers> = {}): PluginHandlers & { seen: CniRequest[] } {
  const seen: CniRequest[] = [];
  const record = async (req: CniRequest): Promise<void> => {
    seen.push(req);
  };
  return {
    seen,
    supportedVersions: BRAID_SUPPORTED_VERSIONS,
    add: async (req) => {
      seen.push(req);
      return RESULT;
    },
    del: record,
    check: record,
    status: record,
    gc: record,
    ...over,
  };
}

const env = (command: string) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/c1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
});
const conf = (v: string): string => JSON.stringify({ cniVersion: v, name: 'braid-net', type: 'braid' });

async function run(h: PluginHandlers, e: Record<string, string | undefined>, stdin: string) {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const rc = await runPlugin(h, e, stdin, out);
  const text = Buffer.concat(chunks).toString();
  return { rc, text, json: text === '' ? undefined : (JSON.parse(text) as Record<string, any>) };
}

describe('C1 ADD answers in the config version', () => {
  it.each(BRAID_SUPPORTED_VERSIONS)('at %s', async (v) => {
    const { rc, json, text } = await run(handlers(), env('ADD'), conf(v));
    expect(rc).toBe(0);
    expect(json?.cniVersion).toBe(v);
    expect(json?.ips?.[0]?.address).toBe('10.1.0.5/24');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('adds ips[].version below 1.0.0', async () => {
    const { json } = await run(handlers(), env('ADD'), conf('0.4.0'));
    expect(json?.ips?.[0]?.version).toBe('4');
  });

  it('hands the parsed request to the handler', async () => {
    const h = handlers();
    await run(h, { ...env('ADD'), CNI_ARGS: 'K8S_POD_NAME=p;IgnoreUnknown=1' }, conf('1.0.0'));
    expect(h.seen[0]).toMatchObject({
      command: 'ADD',
      ifname: 'eth0',
      args: [
        ['K8S_POD_NAME', 'p'],
        ['IgnoreUnknown', '1'],
      ],
    });
  });
});

describe('DEL, CHECK, STATUS, GC print nothing on success', () => {
  it.each([
    ['DEL', '1.0.0'],
    ['CHECK', '1.0.0'],
    ['STATUS', '1.1.0'],
    ['GC', '1.1.0'],
  ])('%s', async (cmd, v) => {
    const h = handlers();
    const { rc, text } = await run(h, env(cmd), conf(v));
    expect(rc).toBe(0);
    expect(text).toBe('');
    expect(h.seen.map((r) => r.command)).toEqual([cmd]);
  });
});

describe('B1 errors go to stdout as CNI error JSON', () => {
  it('keeps a handler CniError code, message and details', async () => {
    const h = handlers({
      add: () => Promise.reject(new CniError(11, 'delegate busy', 'retry in 5s')),
    });
    const { rc, json } = await run(h, env('ADD'), conf('1.0.0'));
    expect(rc).toBe(1);
    expect(json).toEqual({ cniVersion: '1.0.0', code: 11, msg: 'delegate busy', details: 'retry in 5s' });
  });

  it("reports any other failure with braid's own code 104 and the error's type, never 999", async () => {
    const h = handlers({ del: () => Promise.reject(new Error('boom')) });
    const { rc, json } = await run(h, env('DEL'), conf('1.0.0'));
    expect(rc).toBe(1);
    expect(json).toEqual({ cniVersion: '1.0.0', code: 104, msg: 'unexpected Error in braid: boom' });
  });

  it('labels request errors with the input version when we speak it', async () => {
    const { json } = await run(handlers(), { ...env('ADD'), CNI_IFNAME: 'x'.repeat(16) }, conf('0.4.0'));
    expect(json).toMatchObject({ cniVersion: '0.4.0', code: 4 });
  });

  it.each([
    ['not json', 6],
    [conf('9.9.9'), 1],
  ])('labels errors for %j with the newest version', async (stdin, code) => {
    const { rc, json } = await run(handlers(), env('ADD'), stdin);
    expect(rc).toBe(1);
    expect(json).toMatchObject({ cniVersion: '1.1.0', code });
  });

  it('rejects an unknown verb with code 4', async () => {
    const { json } = await run(handlers(), env('FROB'), conf('1.0.0'));
    expect(json).toMatchObject({ code: 4, msg: 'unknown CNI_COMMAND: FROB' });
  });
});

describe('H1/H2 VERSION', () => {
  it('needs only CNI_COMMAND and survives garbage stdin', async () => {
    const { rc, json } = await run(handlers(), { CNI_COMMAND: 'VERSION' }, 'garbage{');
    expect(rc).toBe(0);
    expect(json).toEqual({ cniVersion: '1.1.0', supportedVersions: [...BRAID_SUPPORTED_VERSIONS] });
  });

  it('echoes a known input version', async () => {
    const { json } = await run(handlers(), { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    expect(json?.cniVersion).toBe('0.4.0');
  });

  it('answers with the newest version for an unknown input version', async () => {
    const { json } = await run(handlers(), { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"9.9.9"}');
    expect(json?.cniVersion).toBe('1.1.0');
  });
});

describe('A6 stdin', () => {
  it('reads a whole stream', async () => {
    expect(await readStdin(Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]))).toBe('{"a":1}');
  });

  it('turns a read error into code 5', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('EIO'));
      },
    });
    await expect(readStdin(broken)).rejects.toMatchObject({ code: 5 });
  });
});

describe('handleInvocation', () => {
  it('returns the outcome without printing', async () => {
    expect(await handleInvocation(handlers(), env('DEL'), conf('1.0.0'))).toEqual({ exitCode: 0 });
  });
});
