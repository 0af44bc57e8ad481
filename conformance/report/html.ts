/**
 * RunResult → one self-contained HTML page: the token's identity, capabilities, options and totals, a
 * matrix of area × case with a coloured outcome per cell, then the failing cases' details.
 *
 * Self-contained because the report travels (CI artefact, e-mail to a token vendor): inline CSS, no
 * script, no font or image from the network, so it opens the same offline and prints on paper
 * (a print style keeps the colours and avoids breaking a row across pages).
 *
 * Every string goes through html() — labels, manufacturer fields and error messages come from the
 * token, which may put markup or control characters in them.
 */
import type { CaseOutcome, CaseResult, RunResult } from '../case.js';
import { formatDuration, visibleText } from './visible.js';

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text → HTML text or attribute value: markup characters as entities, control characters visible. */
export function html(text: string): string {
  return visibleText(text).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** How each outcome looks: the cell's text and its CSS class. */
const OUTCOME_VIEW: Readonly<Record<CaseOutcome['status'], { label: string; css: string }>> = {
  passed: { label: 'pass', css: 'pass' },
  failed: { label: 'FAIL', css: 'fail' },
  'not-applicable': { label: 'n/a', css: 'na' },
  skipped: { label: 'skipped', css: 'skip' },
};

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f23; margin: 2em auto; max-width: 72em; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .5em 0; } th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .92em; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: .5em; margin: .3em 0; }
.pass { background: #dafbe1; color: #116329; } .fail { background: #ffebe9; color: #a40e26; font-weight: bold; }
.na { background: #eaeef2; color: #57606a; } .skip { background: #fff8c5; color: #7d4e00; }
td.outcome { text-align: center; white-space: nowrap; } tr.area th { background: #ddf4ff; }
.muted { color: #57606a; } .verdict { font-size: 1.1em; padding: .4em .8em; display: inline-block; }
@media print { body { margin: 0; max-width: none; font-size: 11px; } tr { break-inside: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
`;

function row(cells: string[], header = false): string {
  const tag = header ? 'th' : 'td';
  return `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
}

/** A two-column table of names and (already escaped) values. */
function keyValueTable(entries: [string, string][]): string {
  return `<table>${entries.map(([k, v]) => `<tr><th>${html(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function list(values: readonly (string | number)[]): string {
  return values.length > 0 ? html(values.join(', ')) : '<span class="muted">none</span>';
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

function identitySection(result: RunResult): string {
  const t = result.target;
  return keyValueTable([
    ['Label', html(t.label)],
    ['Serial', html(t.serial)],
    ['Manufacturer', html(t.manufacturer)],
    ['Model', html(t.model)],
    ['Reader', html(t.reader)],
    [t.kind === 'module' ? 'PKCS#11 module' : 'Provider', html(t.source)],
  ]);
}

function capabilitiesSection(result: RunResult): string {
  const c = result.capabilities;
  const containers = c.existingContainers.map((k) => `${k.name} (${k.keys.map((key) => `${key.algorithm}-${key.bits}`).join(', ') || 'no keys'}${k.hasCertificate ? ', certificate' : ''})`);
  return keyValueTable([
    ['Read-only', yesNo(c.readOnly)],
    ['RSA key sizes', list(c.rsaKeySizes)],
    ['EC curves', list(c.ecCurves)],
    ['PIN change', yesNo(c.pinChange)],
    ['PIN retry counter', yesNo(c.pinRetryCounter)],
    ['Key import', yesNo(c.keyImport)],
    ['Existing containers', list(containers)],
    ['Mechanisms', list(c.mechanisms)],
  ]);
}

function optionsSection(result: RunResult): string {
  const o = result.options;
  return keyValueTable([
    ['Areas', list(result.areas.map((a) => a.id))],
    ['Destructive cases allowed', yesNo(o.allowDestructive)],
    ['PIN lockout cases allowed', yesNo(o.allowPinLockout)],
    ['Skipped by the user', list(o.skip)],
    ['Started', html(result.startedAt)],
    ['Finished', html(result.finishedAt)],
    ['Tool', html(`${result.tool.name} ${result.tool.version}`)],
  ]);
}

function totalsSection(result: RunResult): string {
  const header = row(['Area', 'Passed', 'Failed', 'Not applicable', 'Skipped'], true);
  const count = (cases: CaseResult[], status: CaseOutcome['status']): number => cases.filter((c) => c.outcome.status === status).length;
  const areaRow = (name: string, cases: CaseResult[]): string =>
    `<tr><th>${html(name)}</th>${(['passed', 'failed', 'not-applicable', 'skipped'] as const)
      .map((s) => `<td class="num${count(cases, s) > 0 && s === 'failed' ? ' fail' : ''}">${count(cases, s)}</td>`).join('')}</tr>`;
  const rows = result.areas.map((a) => areaRow(`${a.id} — ${a.title}`, result.results.filter((r) => r.area === a.id)));
  return `<table>${header}${rows.join('')}${areaRow('Total', result.results)}</table>`;
}

/** The cell after the outcome: the time taken, or why the case did not run. */
function outcomeDetail(outcome: CaseOutcome): string {
  switch (outcome.status) {
    case 'passed': return html(formatDuration(outcome.durationMs));
    case 'failed': return `${html(formatDuration(outcome.durationMs))} — ${html(outcome.error.code ?? 'error')}`;
    case 'not-applicable':
    case 'skipped': return html(outcome.reason);
  }
}

/** Fragment ids of failure details: area and case id, with anything outside [A-Za-z0-9-] as '_'. */
function anchor(r: CaseResult): string {
  return `fail-${r.area}-${r.id}`.replace(/[^A-Za-z0-9-]/g, '_');
}

function matrixSection(result: RunResult): string {
  const parts = ['<table class="matrix">', row(['Case', 'What is checked', 'Outcome', 'Time / reason'], true)];
  for (const area of result.areas) {
    parts.push(`<tr class="area"><th colspan="4">${html(area.id)} — ${html(area.title)}</th></tr>`);
    for (const r of result.results.filter((c) => c.area === area.id)) {
      const view = OUTCOME_VIEW[r.outcome.status];
      const label = r.outcome.status === 'failed' ? `<a href="#${anchor(r)}">${view.label}</a>` : view.label;
      parts.push(`<tr><td><code>${html(r.id)}</code></td><td>${html(r.title)}</td><td class="outcome ${view.css}">${label}</td><td>${outcomeDetail(r.outcome)}</td></tr>`);
    }
  }
  parts.push('</table>');
  return parts.join('\n');
}

function failuresSection(result: RunResult): string {
  const failed = result.results.filter((r) => r.outcome.status === 'failed');
  if (failed.length === 0) return '<p>No case failed.</p>';
  return failed.map((r) => {
    if (r.outcome.status !== 'failed') return '';
    const { error, notes } = r.outcome;
    return [
      `<h3 id="${anchor(r)}"><code>${html(`${r.area}/${r.id}`)}</code> — ${html(r.title)}</h3>`,
      keyValueTable([['Code', html(error.code ?? '(none)')], ['Message', `<pre>${html(error.message)}</pre>`]]),
      notes.length > 0 ? `<p>Notes:</p><ul>${notes.map((n) => `<li>${html(n)}</li>`).join('')}</ul>` : '',
      error.stack ? `<details><summary>Stack</summary><pre>${html(error.stack)}</pre></details>` : '',
    ].join('\n');
  }).join('\n');
}

/** The whole report page. */
export function htmlReport(result: RunResult): string {
  const { totals } = result;
  const verdict = totals.failed > 0
    ? `<span class="verdict fail">${totals.failed} case${totals.failed === 1 ? '' : 's'} failed</span>`
    : '<span class="verdict pass">No case failed</span>';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>p11-ksp conformance: ${html(result.target.label)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>p11-ksp conformance report</h1>
<p>${verdict} <span class="muted">${totals.passed} passed, ${totals.failed} failed, ${totals.notApplicable} not applicable, ${totals.skipped} skipped</span></p>
<h2>Token</h2>
${identitySection(result)}
<h2>Capabilities</h2>
${capabilitiesSection(result)}
<h2>Run</h2>
${optionsSection(result)}
<h2>Totals</h2>
${totalsSection(result)}
<h2>Matrix</h2>
${matrixSection(result)}
<h2>Failures</h2>
${failuresSection(result)}
</body>
</html>
`;
}
