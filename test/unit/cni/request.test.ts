import { describe, expect, it } from 'vitest';
import { type CniEnv, parseRequest, validAttachments } from '../../../src/cni/request.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../../../src/cni/versions.ts';
import { failure } from '../../helpers/failure.ts';

const SUPPORTED = BRAID_SUPPORTED_VERSIONS;
const CONF = JSON.stringify({ cniVersion: '1.0.0', name: 'braid', type: 'braid' });
const conf = (extra: Record<string, unknown>): string =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'braid', ...extra });

function env(command: string, over: CniEnv = {}): CniEnv {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'abc123',
    CNI_NETNS: '/var/run/netns/c1',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
    ...over,
  };
}

describe('A1 request fields', () => {
  it('reads env and stdin into a request', () => {
    const req = parseRequest(env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p' }), CONF, SUPPORTED);
    expect(req).toMatchObject({
      command: 'ADD',
      containerId: 'abc123',
      netns: '/var/run/netns/c1',
      ifname: 'eth0',
      argsRaw: 'IgnoreUnknown=1;K8S_POD_NAME=p',
      args: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAME', 'p'],
      ],
      path: ['/opt/cni/bin', '/usr/lib/cni'],
      stdin: CONF,
      cniVersion: '1.0.0',
    });
    expect(req.config).toEqual(JSON.parse(CONF));
  });

  it('drops empty CNI_PATH entries', () => {
    expect(parseRequest(env('ADD', { CNI_PATH: '/a::/b:' }), CONF, SUPPORTED).path).toEqual(['/a', '/b']);
  });

  it('keeps the whole environment of the call, the base of every plugin braid starts for it', () => {
    const callEnv = env('DEL', { PATH: '/runtime/bin:/usr/bin', HTTPS_PROXY: 'http://proxy:3128' });
    expect(parseRequest(callEnv, CONF, SUPPORTED).env).toEqual(callEnv);
    expect(parseRequest(env('VERSION', { PATH: '/x' }), '', SUPPORTED).env.PATH).toBe('/x');
  });
});

describe('A2 required env', () => {
  it.each([
    ['ADD', 'CNI_CONTAINERID'],
    ['ADD', 'CNI_NETNS'],
    ['ADD', 'CNI_IFNAME'],
    ['ADD', 'CNI_PATH'],
    ['CHECK', 'CNI_NETNS'],
    ['CHECK', 'CNI_PATH'],
    ['DEL', 'CNI_CONTAINERID'],
    ['DEL', 'CNI_IFNAME'],
    ['DEL', 'CNI_PATH'],
    ['GC', 'CNI_PATH'],
  ])('%s without %s is code 4 naming it', (cmd, name) => {
    const e = failure(() => parseRequest(env(cmd, { [name]: undefined }), conf({ cniVersion: '1.1.0' }), SUPPORTED));
    expect(e.code).toBe(4);
    expect(e.message).toBe(`required env variables [${name}] missing`);
  });

  it('names every missing variable at once', () => {
    const e = failure(() => parseRequest({ CNI_COMMAND: 'ADD' }, CONF, SUPPORTED));
    expect(e.code).toBe(4);
    expect(e.message).toBe('required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing');
  });

  it('treats an empty variable as missing', () => {
    expect(failure(() => parseRequest(env('ADD', { CNI_NETNS: '' }), CONF, SUPPORTED)).message).toContain('CNI_NETNS');
  });

  it('allows DEL without CNI_NETNS', () => {
    expect(parseRequest(env('DEL', { CNI_NETNS: undefined }), CONF, SUPPORTED).netns).toBe('');
  });

  it('needs no container env for STATUS, and CNI_PATH only if given', () => {
    const req = parseRequest({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' }), SUPPORTED);
    expect(req).toMatchObject({ command: 'STATUS', containerId: '', ifname: '', path: [] });
  });

  it('needs only CNI_COMMAND and CNI_PATH for GC', () => {
    const req = parseRequest({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, conf({ cniVersion: '1.1.0' }), SUPPORTED);
    expect(req.command).toBe('GC');
  });

  it('requires CNI_COMMAND', () => {
    expect(failure(() => parseRequest({}, CONF, SUPPORTED)).code).toBe(4);
  });
});

describe('A3 container id', () => {
  it.each(['abc', 'a1', 'A_b.c-d', '0123456789abcdef'])('accepts %j', (id) => {
    expect(parseRequest(env('ADD', { CNI_CONTAINERID: id }), CONF, SUPPORTED).containerId).toBe(id);
  });

  it('answers an empty container id with code 3', () => {
    const e = failure(() => parseRequest(env('ADD', { CNI_CONTAINERID: '' }), CONF, SUPPORTED));
    expect(e.code).toBe(3);
    expect(e.message).toBe('missing containerID');
  });

  it.each(['-x', '.x', '_x', 'a/b', 'a b', 'a:b', 'ä'])('rejects %j with code 4', (id) => {
    expect(failure(() => parseRequest(env('ADD', { CNI_CONTAINERID: id }), CONF, SUPPORTED)).code).toBe(4);
  });

  it('is not checked for STATUS and GC', () => {
    const v11 = conf({ cniVersion: '1.1.0' });
    expect(parseRequest(env('GC', { CNI_CONTAINERID: '-x' }), v11, SUPPORTED).command).toBe('GC');
  });
});

describe('A4 interface name', () => {
  it.each(['eth0', 'net1', 'a'.repeat(15), 'veth-x_y.z'])('accepts %j', (name) => {
    expect(parseRequest(env('ADD', { CNI_IFNAME: name }), CONF, SUPPORTED).ifname).toBe(name);
  });

  it.each(['a'.repeat(16), '.', '..', 'a/b', 'a:b', 'a b', 'a\tb', 'ééééééééé'])('rejects %j with code 4', (name) => {
    expect(failure(() => parseRequest(env('ADD', { CNI_IFNAME: name }), CONF, SUPPORTED)).code).toBe(4);
  });
});

describe('A5 network name', () => {
  it('requires a name (code 7)', () => {
    const e = failure(() => parseRequest(env('ADD'), JSON.stringify({ cniVersion: '1.0.0' }), SUPPORTED));
    expect(e.code).toBe(7);
    expect(e.message).toContain('missing network name');
  });

  it.each(['bad/name', '-x', 'a b', 42])('rejects %j with code 7', (name) => {
    expect(failure(() => parseRequest(env('ADD'), conf({ name }), SUPPORTED)).code).toBe(7);
  });
});

describe('A6 decoding and verbs', () => {
  it.each(['', 'not json', '[1,2]', 'null', '"str"'])('stdin %j is code 6', (stdin) => {
    expect(failure(() => parseRequest(env('ADD'), stdin, SUPPORTED)).code).toBe(6);
  });

  it('rejects an unknown verb with code 4', () => {
    const e = failure(() => parseRequest(env('FROB'), CONF, SUPPORTED));
    expect(e.code).toBe(4);
    expect(e.message).toBe('unknown CNI_COMMAND: FROB');
  });

  it('rejects bad CNI_ARGS with code 4', () => {
    expect(failure(() => parseRequest(env('ADD', { CNI_ARGS: 'A' }), CONF, SUPPORTED)).code).toBe(4);
  });

  it('checks the config before the container id, like the Go skel', () => {
    expect(failure(() => parseRequest(env('ADD', { CNI_CONTAINERID: '-x' }), 'nope', SUPPORTED)).code).toBe(6);
  });
});

describe('H1/H3 versions', () => {
  it('VERSION needs only CNI_COMMAND and ignores stdin', () => {
    const req = parseRequest({ CNI_COMMAND: 'VERSION' }, 'garbage{', SUPPORTED);
    expect(req).toMatchObject({ command: 'VERSION', config: {}, stdin: '' });
  });

  it('takes a config without cniVersion as 0.1.0', () => {
    const e = failure(() => parseRequest(env('ADD'), JSON.stringify({ name: 'n' }), SUPPORTED));
    expect(e.code).toBe(1);
    expect(e.details).toContain('config is "0.1.0"');
    expect(parseRequest(env('ADD'), JSON.stringify({ name: 'n' }), ['0.1.0']).cniVersion).toBe('0.1.0');
  });

  it.each(['9.9.9', '0.2.0', '1.0'])('rejects unsupported version %j with code 1 and the lists', (v) => {
    const e = failure(() => parseRequest(env('ADD'), conf({ cniVersion: v }), SUPPORTED));
    expect(e.code).toBe(1);
    expect(e.message).toContain('incompatible CNI versions');
    expect(e.details).toBe(`config is "${v}", plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]`);
  });

  it('rejects a non-string cniVersion with code 6', () => {
    expect(failure(() => parseRequest(env('ADD'), conf({ cniVersion: 1 }), SUPPORTED)).code).toBe(6);
  });

  it.each(SUPPORTED)('accepts ADD at %s', (v) => {
    expect(parseRequest(env('ADD'), conf({ cniVersion: v }), SUPPORTED).cniVersion).toBe(v);
  });
});

describe('E1 CHECK needs 0.4.0', () => {
  it.each(['0.3.0', '0.3.1'])('rejects CHECK at %s with code 1', (v) => {
    const e = failure(() => parseRequest(env('CHECK'), conf({ cniVersion: v }), SUPPORTED));
    expect(e.code).toBe(1);
    expect(e.message).toMatch(/^config version does not allow CHECK/);
  });
  it.each(['0.4.0', '1.0.0', '1.1.0'])('accepts CHECK at %s', (v) => {
    expect(parseRequest(env('CHECK'), conf({ cniVersion: v }), SUPPORTED).command).toBe('CHECK');
  });
});

describe('F5/G5 STATUS and GC need 1.1.0', () => {
  it.each(['STATUS', 'GC'])('rejects %s at 1.0.0 with code 1', (cmd) => {
    const e = failure(() => parseRequest(env(cmd), conf({ cniVersion: '1.0.0' }), SUPPORTED));
    expect(e.code).toBe(1);
    expect(e.message).toContain(`does not allow ${cmd}`);
  });
});

describe('G1 valid attachments', () => {
  const a = [{ containerID: 'c1', ifname: 'eth0' }];

  it('reads cni.dev/valid-attachments', () => {
    expect(validAttachments({ 'cni.dev/valid-attachments': a })).toEqual(a);
  });

  it('reads the 1.1.0 tag key cni.dev/attachments', () => {
    expect(validAttachments({ 'cni.dev/attachments': a })).toEqual(a);
  });

  it('prefers the spec key when both are sent', () => {
    expect(validAttachments({ 'cni.dev/valid-attachments': a, 'cni.dev/attachments': [] })).toEqual(a);
  });

  it('reads null (a Go nil slice) as none', () => {
    expect(validAttachments({ 'cni.dev/valid-attachments': null })).toEqual([]);
  });

  it('refuses a GC request with neither key (code 7) instead of collecting everything', () => {
    expect(failure(() => validAttachments({ name: 'n' })).code).toBe(7);
  });

  it.each([{}, 'x', [{ containerID: 'c' }], [{ containerID: 1, ifname: 'eth0' }], [null]])(
    'rejects %j with code 7',
    (v) => {
      expect(failure(() => validAttachments({ 'cni.dev/valid-attachments': v })).code).toBe(7);
    },
  );

  it('drops extra keys of an attachment', () => {
    expect(validAttachments({ 'cni.dev/attachments': [{ containerID: 'c', ifname: 'e', x: 1 }] })).toEqual([
      { containerID: 'c', ifname: 'e' },
    ]);
  });
});
