/**
 * The data cache across real processes, on a real SoftHSM2 token: process A caches the card's
 * container map; process B writes a container and a certificate; A sees both at once, and a process
 * that reads before any change is served from the global cache without reading the map from the card.
 * Two writers at once never leave a third process with stale data (nor lose a container: the card
 * lock orders their read-modify-writes of the map).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { x509 } from '../../minidriver/x509.js';
import { AT_KEYEXCHANGE } from '../../minidriver/constants.js';
import { LmdbCacheBackend } from '../../smartcard/global-cache-store.js';
import { SmartCardService } from '../../smartcard/service.js';
import { makeToken, rig, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { filteredFactory, registration } from './service-helpers.js';

const T = makeToken('xproc-a');
const fixture = fileURLToPath(new URL('./fixtures/card-cache-process.js', import.meta.url));

interface ReadResult { containers: string[]; certificate: string | null; cmapReads: number }

function runProcess(job: object, stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [fixture, JSON.stringify(job)], { env: rig.env(), encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`child failed (exit ${String(err.code)}, signal ${String(err.signal)}): ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
    child.stdin!.end(stdin ?? '');
  });
}

async function selfSignedDer(name: string): Promise<Buffer> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, false, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: `CN=${name}`, notBefore: new Date('2024-01-01'), notAfter: new Date('2034-01-01'), keys, signingAlgorithm: alg });
  return Buffer.from(cert.rawData);
}

describe('smartcard: data cache across processes', function () {
  this.timeout(180_000);
  let dir: string;
  let job: { label: string; cacheFolder: string; lockFolder: string; module: string };
  let service: SmartCardService;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'p11ksp-xproc-'));
    job = { label: T.label, cacheFolder: join(dir, 'cache'), lockFolder: join(dir, 'locks'), module: SOFTHSM2_MODULE };
    service = new SmartCardService({
      registrations: [registration()], driverFactory: filteredFactory('xproc-', { hidden: new Set() }),
      globalCache: new LmdbCacheBackend(job.cacheFolder), lockFolder: job.lockFolder,
    });
  });
  after(async () => {
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function cardA() {
    const entry = (await service.snapshot()).find((e) => e.card?.label === T.label)!;
    return service.cardIn(entry);
  }

  it('A caches; another process reads from the global cache; B writes a container and a certificate; A sees both at once', async () => {
    const a = await cardA();
    const before = await a.transaction(() => a.containers());
    assert.deepEqual(before.map((c) => c.name), [], 'a fresh card has no containers');

    const reader = JSON.parse(await runProcess({ ...job, read: {} })) as ReadResult;
    assert.deepEqual(reader.containers, []);
    assert.equal(reader.cmapReads, 0, 'a second process is served from the global cache');

    const der = await selfSignedDer('xproc');
    await runProcess({ ...job, write: { container: 'from-b', certificate: der.toString('hex') } }, T.pin);

    const seen = await a.transaction(async () => {
      const containers = await a.containers();
      const c = containers.find((x) => x.name === 'from-b');
      return { names: containers.map((x) => x.name), certificate: c ? await a.readCertificate(c.index, AT_KEYEXCHANGE) : undefined };
    });
    assert.deepEqual(seen.names, ['from-b'], 'A sees the new container at once');
    assert.ok(seen.certificate?.equals(der), 'A sees the new certificate at once');

    const after = JSON.parse(await runProcess({ ...job, read: { certificateOf: 'from-b' } })) as ReadResult;
    assert.equal(after.certificate, der.toString('hex'));
    assert.equal(after.cmapReads, 0, 'A refreshed the global cache; the next process reads none of it from the card');
  });

  it('two writers at once: both containers land, and a third process sees both', async () => {
    const [d1, d2] = await Promise.all([selfSignedDer('w1'), selfSignedDer('w2')]);
    const results = await Promise.all([
      runProcess({ ...job, write: { container: 'writer-1', certificate: d1.toString('hex') } }, T.pin),
      runProcess({ ...job, write: { container: 'writer-2', certificate: d2.toString('hex') } }, T.pin),
    ]);
    const indices = results.map((r) => (JSON.parse(r) as { index: number }).index);
    assert.notEqual(indices[0], indices[1], 'the two writers took different map positions');

    const third = JSON.parse(await runProcess({ ...job, read: { certificateOf: 'writer-2' } })) as ReadResult;
    assert.deepEqual([...third.containers].sort(), ['from-b', 'writer-1', 'writer-2']);
    assert.equal(third.certificate, d2.toString('hex'));

    const a = await cardA();
    const names = await a.transaction(async () => (await a.containers()).map((c) => c.name));
    assert.deepEqual([...names].sort(), ['from-b', 'writer-1', 'writer-2'], 'A, which cached earlier, is not left stale');
    for (const c of (await a.containers()).filter((x) => x.name.startsWith('writer-'))) {
      const info = await a.containerInfo(c.index);
      assert.ok(info.pbKeyExPublicKey, `${c.name} holds its key`);
    }
  });
});
