// The conformance reports (conformance/report/): JUnit XML, HTML and JSON rendered from RunResults built
// here, with all four outcomes and strings a hostile or sloppy token could return.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { CaseResult, RunResult } from '../../conformance/case.js';
import { htmlReport, junitReport, summaryLines, writeReports } from '../../conformance/report/index.js';
import { totalsOf } from '../../conformance/runner.js';

/** Markup, entities, quotes, a bell, an escape sequence and a NUL: what a token's strings may hold. */
const HOSTILE = `<script>alert("x")</script> & 'q' \u0007\u001b[31m\u0000end`;
/** A secret that must never appear in a report; the RunResult below does not hold it either. */
const NOT_IN_RESULT = '482916';

function cases(): CaseResult[] {
  return [
    { area: 'minidriver', id: 'context/acquire', title: 'CardAcquireContext answers the version asked', outcome: { status: 'passed', durationMs: 12.6, notes: ['version 7'] } },
    { area: 'minidriver', id: 'pin/wrong', title: `Wrong PIN from ${HOSTILE}`, outcome: { status: 'failed', durationMs: 40, notes: [`note ${HOSTILE}`], error: { code: 'SCARD_W_WRONG_CHV', message: `token said ${HOSTILE}`, stack: 'Error: x\n    at f (file.js:1:1)' } } },
    { area: 'minidriver', id: 'keys/generate-rsa-4096', title: 'RSA-4096 on the card', outcome: { status: 'not-applicable', reason: 'the token does not generate RSA-4096' } },
    { area: 'cng', id: 'sign/rsa-pss', title: 'NCryptSignHash with PSS', outcome: { status: 'passed', durationMs: 3, notes: [] } },
    { area: 'cng', id: 'decrypt/rsa-oaep', title: 'NCryptDecrypt with OAEP', outcome: { status: 'failed', durationMs: 2, notes: [], error: { message: 'no code on this one' } } },
    { area: 'cng', id: 'pin/lockout', title: 'Blocks the PIN', outcome: { status: 'skipped', reason: `--skip ${HOSTILE}` } },
  ];
}

function runResult(results: CaseResult[] = cases()): RunResult {
  const totals = totalsOf(results);
  return {
    tool: { name: 'p11-ksp', version: '0.1.0' },
    target: { kind: 'module', source: '/usr/lib/softhsm/libsofthsm2.so', label: `label ${HOSTILE}`, serial: '0123456789abcdef', manufacturer: `ACME "Cards" & <Co>`, model: 'SoftHSM v2', reader: 'slot 0' },
    capabilities: {
      readOnly: false, rsaKeySizes: [1024, 2048], ecCurves: ['P-256'], pinChange: true, pinRetryCounter: false, keyImport: true,
      existingContainers: [{ name: `old ${HOSTILE}`, keys: [{ keySpec: 1, algorithm: 'RSA', bits: 2048 }], hasCertificate: true }],
      mechanisms: ['CKM_ECDSA', 'CKM_RSA_PKCS'],
    },
    startedAt: '2026-12-04T15:00:00.000Z', finishedAt: '2026-12-04T15:00:02.500Z',
    areas: [{ id: 'minidriver', title: 'Card minidriver contract' }, { id: 'cng', title: 'CNG key storage provider' }],
    options: { allowDestructive: false, allowPinLockout: false, skip: ['cng/pin/'] },
    results, totals,
  };
}

type Json = Record<string, unknown>;
const asArray = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

function parseJunit(xml: string): { root: Json; suites: Json[] } {
  const valid = XMLValidator.validate(xml);
  assert.equal(valid, true, `the JUnit XML is not well-formed: ${JSON.stringify(valid)}`);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', processEntities: true }).parse(xml) as Json;
  const root = doc.testsuites as Json;
  return { root, suites: asArray(root.testsuite as Json | Json[]) };
}

describe('conformance reports', function () {
  describe('JUnit XML', () => {
    it('is well-formed, with one suite per area and the right counts', () => {
      const { root, suites } = parseJunit(junitReport(runResult()));
      assert.equal(root['@tests'], '6');
      assert.equal(root['@failures'], '2');
      assert.equal(root['@skipped'], '2');
      assert.equal(root['@time'], '2.500');
      assert.deepEqual(suites.map((s) => s['@name']), ['minidriver', 'cng']);
      const [minidriver, cng] = suites as [Json, Json];
      assert.deepEqual([minidriver['@tests'], minidriver['@failures'], minidriver['@skipped']], ['3', '1', '1']);
      assert.deepEqual([cng['@tests'], cng['@failures'], cng['@skipped']], ['3', '1', '1']);
      assert.equal(minidriver['@time'], '0.053'); // 12.6 ms + 40 ms
    });

    it('has one testcase per case with its classname, and failure / skipped elements by outcome', () => {
      const { suites } = parseJunit(junitReport(runResult()));
      const byName = new Map<string, Json>();
      for (const suite of suites) for (const tc of asArray(suite.testcase as Json | Json[])) byName.set(`${String(tc['@classname'])} ${String(tc['@name'])}`, tc);
      assert.equal(byName.size, 6);
      const passed = byName.get('p11-ksp.minidriver context/acquire')!;
      assert.equal(passed.failure, undefined);
      assert.equal(passed.skipped, undefined);
      assert.equal(passed['@time'], '0.013');

      const failed = byName.get('p11-ksp.minidriver pin/wrong')!.failure as Json;
      assert.equal(failed['@type'], 'SCARD_W_WRONG_CHV');
      // The parser gives back the text: markup characters survive as text, control characters as escapes.
      assert.equal(failed['@message'], 'token said <script>alert("x")</script> & \'q\' \\u0007\\u001b[31m\\u0000end');
      assert.match(String(failed['#text']), /^SCARD_W_WRONG_CHV: token said <script>/);
      assert.match(String(failed['#text']), /note: note <script>/);
      assert.match(String(failed['#text']), /at f \(file\.js:1:1\)/);

      const noCode = byName.get('p11-ksp.cng decrypt/rsa-oaep')!.failure as Json;
      assert.equal(noCode['@type'], 'Error');

      const na = byName.get('p11-ksp.minidriver keys/generate-rsa-4096')!.skipped as Json;
      assert.equal(na['@message'], 'not applicable: the token does not generate RSA-4096');
      const skipped = byName.get('p11-ksp.cng pin/lockout')!.skipped as Json;
      assert.match(String(skipped['@message']), /^skipped: --skip <script>/);
    });

    it('carries the token identity as properties of every suite', () => {
      const { suites } = parseJunit(junitReport(runResult()));
      for (const suite of suites) {
        const props = new Map(asArray((suite.properties as Json).property as Json | Json[]).map((p) => [p['@name'], p['@value']]));
        assert.equal(props.get('token.serial'), '0123456789abcdef');
        assert.equal(props.get('token.manufacturer'), 'ACME "Cards" & <Co>');
        assert.equal(props.get('token.model'), 'SoftHSM v2');
        assert.equal(props.get('target.source'), '/usr/lib/softhsm/libsofthsm2.so');
        assert.equal(props.get('capabilities.mechanisms'), 'CKM_ECDSA,CKM_RSA_PKCS');
      }
    });

    it('holds no raw control character (XML 1.0 cannot carry them)', () => {
      const xml = junitReport(runResult());
      assert.doesNotMatch(xml, /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    });
  });

  describe('HTML', () => {
    const page = htmlReport(runResult());

    it('is one self-contained page: no script, no external resource', () => {
      assert.match(page, /^<!DOCTYPE html>/);
      assert.doesNotMatch(page, /<script/i);
      assert.doesNotMatch(page, /<link\b/i);
      assert.doesNotMatch(page, /\b(src|href)="(https?:)?\/\//i);
      assert.doesNotMatch(page, /@import|url\(/i);
    });

    it('escapes every hostile string and shows control characters as escapes', () => {
      assert.doesNotMatch(page, /<script>alert/);
      assert.match(page, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &#39;q&#39; \\u0007\\u001b\[31m\\u0000end/);
      assert.match(page, /ACME &quot;Cards&quot; &amp; &lt;Co&gt;/);
      assert.doesNotMatch(page, /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    });

    it('has every case id exactly once in the matrix, with its outcome class', () => {
      const matrix = /<table class="matrix">([\s\S]*?)<\/table>/.exec(page)![1]!;
      const expected: [string, string][] = [
        ['context/acquire', 'pass'], ['pin/wrong', 'fail'], ['keys/generate-rsa-4096', 'na'],
        ['sign/rsa-pss', 'pass'], ['decrypt/rsa-oaep', 'fail'], ['pin/lockout', 'skip'],
      ];
      for (const [id, css] of expected) {
        const cell = `<td><code>${id}</code></td>`;
        assert.equal(matrix.split(cell).length - 1, 1, `${id} once in the matrix`);
        const rowText = matrix.slice(matrix.indexOf(cell)).split('</tr>')[0]!;
        assert.match(rowText, new RegExp(`class="outcome ${css}"`), `${id} is ${css}`);
      }
      assert.equal((matrix.match(/<td><code>/g) ?? []).length, 6);
    });

    it('shows the token identity, totals, and the failing cases\' details', () => {
      for (const text of ['0123456789abcdef', 'SoftHSM v2', 'slot 0', '/usr/lib/softhsm/libsofthsm2.so', 'CKM_RSA_PKCS', '2 cases failed']) {
        assert.ok(page.includes(text), `the page shows ${text}`);
      }
      const failures = page.slice(page.indexOf('<h2>Failures</h2>'));
      assert.match(failures, /<code>minidriver\/pin\/wrong<\/code>/);
      assert.match(failures, /SCARD_W_WRONG_CHV/);
      assert.match(failures, /note &lt;script&gt;/);
      assert.match(failures, /<code>cng\/decrypt\/rsa-oaep<\/code>/);
      assert.doesNotMatch(failures, /context\/acquire/);
    });

    it('says no case failed when none did', () => {
      const ok = htmlReport(runResult(cases().filter((c) => c.outcome.status !== 'failed')));
      assert.match(ok, /No case failed/);
      assert.doesNotMatch(ok, /class="verdict fail"/);
    });
  });

  describe('terminal summary', () => {
    it('counts per area, totals, and lists each failed case on one line without control characters', () => {
      const lines = summaryLines(runResult());
      const row = (name: string): string[] => lines.find((l) => l.startsWith(`${name} `))!.trim().split(/\s+/);
      assert.deepEqual(row('minidriver'), ['minidriver', '1', '1', '1', '0']);
      assert.deepEqual(row('cng'), ['cng', '1', '1', '0', '1']);
      assert.deepEqual(row('total'), ['total', '2', '2', '1', '1']);
      const failed = lines.slice(lines.indexOf('Failed:') + 1);
      assert.equal(failed.length, 2);
      assert.match(failed[0]!, /^ {2}minidriver\/pin\/wrong: SCARD_W_WRONG_CHV: token said <script>/);
      assert.equal(failed[1], '  cng/decrypt/rsa-oaep: no code on this one');
      assert.doesNotMatch(lines.join('\n'), /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    });
  });

  describe('failure texts', () => {
    it('name the code once when the message already starts with it (CryptError messages do)', () => {
      const result = runResult([{ area: 'cng', id: 'sign/rsa-pkcs1', title: 'sign', outcome: { status: 'failed', durationMs: 1, notes: [], error: { code: 'SCARD_W_CHV_BLOCKED', message: 'SCARD_W_CHV_BLOCKED: CardAuthenticateEx, card "x": the PIN is blocked' } } }]);
      assert.equal(summaryLines(result).at(-1), '  cng/sign/rsa-pkcs1: SCARD_W_CHV_BLOCKED: CardAuthenticateEx, card "x": the PIN is blocked');
      const { suites } = parseJunit(junitReport(result));
      const failure = (suites.find((s) => s['@name'] === 'cng')!.testcase as Json).failure as Json;
      assert.equal(failure['#text'], 'SCARD_W_CHV_BLOCKED: CardAuthenticateEx, card "x": the PIN is blocked');
      assert.equal(failure['@type'], 'SCARD_W_CHV_BLOCKED');
    });
  });

  describe('writeReports', () => {
    let dir: string;
    beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'p11ksp-report-test-')); });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('creates the folder, writes the three files, and report.json round-trips', async () => {
      const result = runResult();
      const target = join(dir, 'nested', 'reports');
      const paths = await writeReports(result, target);
      assert.deepEqual(paths, { junit: join(target, 'report.xml'), html: join(target, 'report.html'), json: join(target, 'report.json') });
      assert.deepEqual(readdirSync(target).sort(), ['report.html', 'report.json', 'report.xml']);
      assert.deepEqual(JSON.parse(readFileSync(paths.json, 'utf8')), result);
      assert.equal(readFileSync(paths.junit, 'utf8'), junitReport(result));
      assert.equal(readFileSync(paths.html, 'utf8'), htmlReport(result));
    });

    it('writes no PIN: nothing but the RunResult reaches the files', async () => {
      const result = runResult();
      assert.ok(!JSON.stringify(result).includes(NOT_IN_RESULT));
      const paths = await writeReports(result, dir);
      for (const file of Object.values(paths)) {
        assert.ok(existsSync(file));
        assert.ok(!readFileSync(file, 'utf8').includes(NOT_IN_RESULT), `${file} holds no PIN`);
      }
      // The result's own keys: nothing named like a PIN travels in it.
      assert.doesNotMatch(readFileSync(paths.json, 'utf8'), /"pin"\s*:/i);
    });
  });
});
