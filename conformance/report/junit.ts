/**
 * RunResult → JUnit XML, the format CI systems (GitLab, Jenkins, GitHub test reporters) read.
 *
 * Layout: one <testsuite> per area (name = area id), one <testcase classname="p11-ksp.<area>"
 * name="<case id>"> per case. A failed case carries <failure message type=code> with the details; a
 * case that was not applicable or that the user skipped carries <skipped message=reason> — for CI
 * both are "did not run", and the reason says which. The token's identity and capabilities are
 * <properties> of every suite, because many readers show properties per suite only.
 *
 * Built with xmlbuilder2 so escaping is the library's job; characters XML 1.0 cannot hold at all
 * (control characters a token may put in a label or message) are replaced by visible escapes.
 */
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { AreaId, CaseResult, RunResult } from '../case.js';
import { codeAndMessage, escapeControl } from './visible.js';

interface Counts {
  tests: number;
  failures: number;
  skipped: number;
  timeMs: number;
}

function countsOf(results: readonly CaseResult[]): Counts {
  const counts: Counts = { tests: results.length, failures: 0, skipped: 0, timeMs: 0 };
  for (const { outcome } of results) {
    if (outcome.status === 'failed') counts.failures++;
    if (outcome.status === 'not-applicable' || outcome.status === 'skipped') counts.skipped++;
    if (outcome.status === 'passed' || outcome.status === 'failed') counts.timeMs += outcome.durationMs;
  }
  return counts;
}

/** JUnit times are seconds with a fraction. */
function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** The identity and capabilities a reader of the report needs to know which token this was. */
function properties(result: RunResult): [string, string][] {
  const { target, capabilities: caps, options, tool } = result;
  return [
    ['tool', `${tool.name} ${tool.version}`],
    ['target.kind', target.kind],
    ['target.source', target.source],
    ['token.label', target.label],
    ['token.serial', target.serial],
    ['token.manufacturer', target.manufacturer],
    ['token.model', target.model],
    ['token.reader', target.reader],
    ['capabilities.readOnly', String(caps.readOnly)],
    ['capabilities.rsaKeySizes', caps.rsaKeySizes.join(',')],
    ['capabilities.ecCurves', caps.ecCurves.join(',')],
    ['capabilities.pinChange', String(caps.pinChange)],
    ['capabilities.pinRetryCounter', String(caps.pinRetryCounter)],
    ['capabilities.keyImport', String(caps.keyImport)],
    ['capabilities.mechanisms', caps.mechanisms.join(',')],
    ['options.allowDestructive', String(options.allowDestructive)],
    ['options.allowPinLockout', String(options.allowPinLockout)],
    ['options.skip', options.skip.join(',')],
  ];
}

/** A failed case's body: the code, the message, the case's notes, then the stack if there is one. */
function failureText(outcome: Extract<CaseResult['outcome'], { status: 'failed' }>): string {
  const lines = [codeAndMessage(outcome.error)];
  for (const note of outcome.notes) lines.push(`note: ${note}`);
  if (outcome.error.stack) lines.push('', outcome.error.stack);
  return lines.join('\n');
}

function addCase(suite: XMLBuilder, area: AreaId, result: CaseResult): void {
  const { outcome } = result;
  const attributes: Record<string, string> = { classname: `p11-ksp.${area}`, name: result.id };
  if (outcome.status === 'passed' || outcome.status === 'failed') attributes.time = seconds(outcome.durationMs);
  const testcase = suite.ele('testcase', attributes);
  switch (outcome.status) {
    case 'passed':
      if (outcome.notes.length > 0) testcase.ele('system-out').txt(outcome.notes.join('\n'));
      break;
    case 'failed':
      testcase.ele('failure', { message: outcome.error.message, type: outcome.error.code ?? 'Error' }).txt(failureText(outcome));
      break;
    case 'not-applicable':
      testcase.ele('skipped', { message: `not applicable: ${outcome.reason}` });
      break;
    case 'skipped':
      testcase.ele('skipped', { message: `skipped: ${outcome.reason}` });
      break;
  }
}

/** The JUnit XML document of a run (UTF-8, pretty-printed). */
export function junitReport(result: RunResult): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8', invalidCharReplacement: escapeControl });
  const all = countsOf(result.results);
  const root = doc.ele('testsuites', {
    name: `p11-ksp conformance: ${result.target.label}`,
    tests: String(all.tests), failures: String(all.failures), errors: '0', skipped: String(all.skipped),
    time: seconds(Date.parse(result.finishedAt) - Date.parse(result.startedAt)),
    timestamp: result.startedAt,
  });
  for (const area of result.areas) {
    const cases = result.results.filter((r) => r.area === area.id);
    const counts = countsOf(cases);
    const suite = root.ele('testsuite', {
      name: area.id,
      tests: String(counts.tests), failures: String(counts.failures), errors: '0', skipped: String(counts.skipped),
      time: seconds(counts.timeMs), timestamp: result.startedAt,
    });
    const props = suite.ele('properties');
    props.ele('property', { name: 'area.title', value: area.title });
    for (const [name, value] of properties(result)) props.ele('property', { name, value });
    for (const c of cases) addCase(suite, area.id, c);
  }
  return doc.end({ prettyPrint: true });
}
