/**
 * The terminal summary of a run: one row per area (passed / failed / n/a / skipped), a total row, then
 * each failed case's id and message.
 *
 * Plain padded text rather than a table library (cli-table3): the CLI's other listings (`provider
 * list`) are padded columns too, the output must stay greppable and paste well into CI logs, and box
 * drawing would add nothing a column of numbers needs.
 */
import type { CaseResult, RunResult } from '../case.js';
import { codeAndMessage, visibleText } from './visible.js';

interface Row {
  name: string;
  passed: number;
  failed: number;
  notApplicable: number;
  skipped: number;
}

function rowOf(name: string, results: readonly CaseResult[]): Row {
  const row: Row = { name, passed: 0, failed: 0, notApplicable: 0, skipped: 0 };
  for (const { outcome } of results) {
    if (outcome.status === 'passed') row.passed++;
    else if (outcome.status === 'failed') row.failed++;
    else if (outcome.status === 'not-applicable') row.notApplicable++;
    else row.skipped++;
  }
  return row;
}

/** Columns: the area left-aligned, counts right-aligned. */
function formatTable(rows: Row[]): string[] {
  const header = ['AREA', 'PASSED', 'FAILED', 'N/A', 'SKIPPED'];
  const cells = rows.map((r) => [r.name, String(r.passed), String(r.failed), String(r.notApplicable), String(r.skipped)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const format = (row: string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const lines = [format(header), ...cells.slice(0, -1).map(format), rule, format(cells[cells.length - 1]!)];
  return lines;
}

/** The summary as lines (no trailing newline), for stdout. */
export function summaryLines(result: RunResult): string[] {
  const rows = result.areas.map((area) => rowOf(area.id, result.results.filter((r) => r.area === area.id)));
  rows.push(rowOf('total', result.results));
  const lines = [`Conformance of "${visibleText(result.target.label)}" (${visibleText(result.target.source)}):`, '', ...formatTable(rows)];
  const failed = result.results.filter((r) => r.outcome.status === 'failed');
  if (failed.length > 0) {
    lines.push('', 'Failed:');
    for (const r of failed) {
      if (r.outcome.status !== 'failed') continue;
      // One line per case: a multi-line message is folded so the list stays one case per line.
      const text = visibleText(codeAndMessage(r.outcome.error)).replace(/\s*[\r\n]+\s*/g, ' ');
      lines.push(`  ${r.area}/${r.id}: ${text}`);
    }
  }
  return lines;
}

/** The summary as one block of text ending in a newline. */
export function summaryText(result: RunResult): string {
  return `${summaryLines(result).join('\n')}\n`;
}
