/**
 * Writes a run's three reports into one folder: report.xml (JUnit, for CI), report.html (for people,
 * self-contained) and report.json (the RunResult itself, for scripts and for re-rendering later).
 *
 * Nothing secret can reach these files: a RunResult holds no PIN (the runner never puts one there),
 * and the files are written from the RunResult alone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RunResult } from '../case.js';
import { htmlReport } from './html.js';
import { junitReport } from './junit.js';

export { htmlReport } from './html.js';
export { junitReport } from './junit.js';
export { summaryLines, summaryText } from './summary.js';

/** Where `p11-ksp conformance run` writes its reports unless --report-dir says otherwise. */
export const DEFAULT_REPORT_DIR = 'p11-ksp-conformance';

export interface ReportPaths {
  junit: string;
  html: string;
  json: string;
}

/** Creates `dir` (and its parents) if needed and writes the three reports; returns their absolute paths. */
export async function writeReports(result: RunResult, dir: string = DEFAULT_REPORT_DIR): Promise<ReportPaths> {
  const folder = resolve(dir);
  await mkdir(folder, { recursive: true });
  const paths: ReportPaths = { junit: join(folder, 'report.xml'), html: join(folder, 'report.html'), json: join(folder, 'report.json') };
  await writeFile(paths.junit, junitReport(result), 'utf8');
  await writeFile(paths.html, htmlReport(result), 'utf8');
  await writeFile(paths.json, `${JSON.stringify(result, null, 2)}\n`, 'utf8');
  return paths;
}
