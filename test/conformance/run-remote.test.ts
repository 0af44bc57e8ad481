// runConformance against a remote HSM: a SoftHSM2 token served by `p11-kit server` on a unix socket
// and reached through p11-kit's client module, as a user reaches a networked HSM. Destructive cases
// included: key generation and deletion travel over the remoting protocol too.
import { strict as assert } from 'node:assert';
import { AREAS, type RunEvent, type RunResult } from '../../conformance/case.js';
import { runConformance } from '../../conformance/index.js';
import { createSoftHsm, P11KIT_CLIENT_MODULE, P11KitRemote, SOFTHSM2_MODULE } from '../rigs/index.js';
import { assertConsistent, failures, giveUserKeys, labelsOf, OWN_PREFIX, tokenSnapshot } from './run-helpers.js';

// Made before anything C_Initializes SoftHSM2 in this process, so the server's store lists it.
const rig = createSoftHsm({ tokens: [{ label: 'conf-run-remote' }] });
const REMOTE = rig.token('conf-run-remote');

describe('conformance runner on a remote HSM (p11-kit client → p11-kit server → SoftHSM2)', function () {
  this.timeout(900_000);
  let snapshot: string[];
  let outcome: { result: RunResult; events: RunEvent[] };
  let server: P11KitRemote | undefined;
  let previousAddress: string | undefined;

  before(async () => {
    await giveUserKeys({ modulePath: SOFTHSM2_MODULE, label: REMOTE.label, pin: REMOTE.pin });
    snapshot = tokenSnapshot(SOFTHSM2_MODULE, REMOTE.label, REMOTE.pin);
    // A server of this suite's own, stopped in after() (a server left running keeps mocha's process
    // alive). The client reads P11_KIT_SERVER_ADDRESS when the runner loads it.
    server = await P11KitRemote.start({ label: REMOTE.label });
    previousAddress = process.env.P11_KIT_SERVER_ADDRESS;
    process.env.P11_KIT_SERVER_ADDRESS = server.address;
    const events: RunEvent[] = [];
    const result = await runConformance({
      target: { kind: 'module', module: P11KIT_CLIENT_MODULE, tokenSerial: REMOTE.serial },
      pin: async () => Buffer.from(REMOTE.pin, 'utf8'),
      allowDestructive: true,
      onEvent: (e) => events.push(e),
    });
    outcome = { result, events };
  });

  after(async () => {
    // The runner released the client module (the run's end); then the server may go.
    await server?.stop();
    if (previousAddress === undefined) delete process.env.P11_KIT_SERVER_ADDRESS;
    else process.env.P11_KIT_SERVER_ADDRESS = previousAddress;
  });

  it('passes every case, destructive ones included, in every area', () => {
    const { result, events } = outcome;
    assertConsistent(result, events);
    assert.deepEqual(result.areas.map((a) => a.id), [...AREAS]);
    assert.equal(result.totals.failed, 0, failures(result));
    assert.equal(result.target.source, P11KIT_CLIENT_MODULE);
    assert.equal(result.target.label, REMOTE.label, 'found by serial through the client (its slot IDs are not the server\'s)');
    assert.equal(result.capabilities.existingContainers.length, 3);
    assert.ok(result.results.some((r) => r.outcome.status === 'passed' && r.outcome.notes.some((n) => n.startsWith('cleanup: deleted'))),
      'destructive cases made and the runner deleted containers of their own');
  });

  it('leaves the token as it found it (read locally, past the remoting)', () => {
    const after = tokenSnapshot(SOFTHSM2_MODULE, REMOTE.label, REMOTE.pin);
    for (const object of snapshot) assert.ok(after.includes(object), `still on the token unchanged: ${object}`);
    assert.deepEqual(labelsOf(after).filter((l) => l.startsWith(OWN_PREFIX)), []);
  });
});
