import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CACHE_KIND,
  cacheFile,
  listCache,
  quarantineCache,
  readCache,
  removeCache,
  writeCache,
  type CacheRecord,
} from '../../../src/cache/attachment-cache.ts';
import { lockContainer } from '../../../src/multiplex/lock.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-cache-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function record(containerId: string): CacheRecord {
  return {
    kind: CACHE_KIND,
    containerId,
    ifname: 'eth0',
    netns: '/run/netns/x',
    networkName: 'braid',
    cniVersion: '1.0.0',
    cniPath: ['/usr/lib/cni'],
    state: 'added',
    attachments: [
      {
        network: 'cbr0',
        ifname: 'eth0',
        isDefault: true,
        confBytes: '{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","weird key":  [1, 2]}',
        cniArgs: [['K8S_POD_NAME', 'web']],
        capabilityArgs: {},
        state: 'added',
        result: { cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }] },
      },
    ],
    updatedAt: '',
  };
}

describe('per-container cache', () => {
  it('round-trips a record and keeps the delegate configuration bytes exactly', () => {
    writeCache(dir, record('c1'));
    const read = readCache(dir, 'c1', 'eth0');
    expect(read.status).toBe('ok');
    if (read.status !== 'ok') return;
    expect(read.record.attachments[0]!.confBytes).toBe(record('c1').attachments[0]!.confBytes);
    expect(fs.statSync(cacheFile(dir, 'c1', 'eth0')).mode & 0o777).toBe(0o600);
  });

  it('leaves no temporary file behind', () => {
    writeCache(dir, record('c1'));
    expect(fs.readdirSync(dir)).toEqual(['c1-eth0.json']);
  });

  it('reports a missing record as missing and a torn one as corrupt', () => {
    expect(readCache(dir, 'nope', 'eth0').status).toBe('missing');
    fs.writeFileSync(cacheFile(dir, 'c2', 'eth0'), '{"kind":"braidCacheV1","contai');
    const read = readCache(dir, 'c2', 'eth0');
    expect(read.status).toBe('corrupt');
  });

  it('treats JSON that is not a braid record as corrupt', () => {
    fs.writeFileSync(cacheFile(dir, 'c3', 'eth0'), '{"kind":"cniCacheV1"}');
    expect(readCache(dir, 'c3', 'eth0').status).toBe('corrupt');
  });

  it('quarantines a corrupt record instead of deleting it', () => {
    const file = cacheFile(dir, 'c4', 'eth0');
    fs.writeFileSync(file, 'garbage');
    const kept = quarantineCache(file);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readFileSync(kept, 'utf8')).toBe('garbage');
  });

  it('lists records and removes them', () => {
    writeCache(dir, record('a'));
    writeCache(dir, record('b'));
    expect(listCache(dir).map((e) => e.read.status)).toEqual(['ok', 'ok']);
    removeCache(dir, 'a', 'eth0');
    removeCache(dir, 'a', 'eth0');
    expect(listCache(dir)).toHaveLength(1);
  });
});

describe('per-container lock', () => {
  it('serialises holders of the same container and lets other containers through', async () => {
    const first = await lockContainer(dir, 'c1', 1000);
    const other = await lockContainer(dir, 'c2', 1000);
    let secondGot = false;
    const second = lockContainer(dir, 'c1', 2000).then((l) => {
      secondGot = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(secondGot).toBe(false);
    await first.release();
    const l2 = await second;
    expect(secondGot).toBe(true);
    await l2.release();
    await other.release();
  });

  it('gives up with code 11 (try again later) after its timeout', async () => {
    const held = await lockContainer(dir, 'c1', 1000);
    await expect(lockContainer(dir, 'c1', 100)).rejects.toMatchObject({ code: 11 });
    await held.release();
  });

  it('scopes locks by cache directory', async () => {
    const a = await lockContainer(dir, 'c1', 1000);
    const b = await lockContainer(`${dir}-other`, 'c1', 100);
    await a.release();
    await b.release();
  });
});
