#!/usr/bin/env node
// The test suite in three passes, run after `npm run build`:
//   1. every test (dist/test) but the conformance runs, tokens in this process's SoftHSM2 (mocha as
//      configured in .mocharc);
//   2. the CNG and CryptoAPI suites again, their SoftHSM2 tokens reached through p11-kit's client
//      module and a `p11-kit server` (P11KSP_TEST_TRANSPORT=p11kit-remote, see
//      test/smartcard/service-helpers.ts);
//   3. the conformance runner on its three targets (test/conformance/run-*.test.ts), in its own process.
// Each pass's output streams through; the summary reporter's "N passed, N failed" line of each pass is
// read from it, and the last line printed is the sum of all. Exit status: 0 only if nothing failed.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mochaBin = createRequire(import.meta.url).resolve('mocha/bin/mocha.js');
const SUMMARY = /^(\d+) passed, (\d+) failed$/;

const passes = [
  // .mocharc leaves out the conformance runs: they run the whole suite in a process of their own.
  { name: 'local SoftHSM2', args: [], env: {} },
  // .mocharc's spec is merged with paths given on the command line, so pass 2 runs without it and
  // names its reporter and timeout itself.
  {
    name: 'remote HSM (p11-kit)',
    args: ['--no-config', '--reporter', 'test/support/summary-reporter.cjs', '--timeout', '120000', '--recursive', 'dist/test/ksp', 'dist/test/csp-legacy'],
    env: { P11KSP_TEST_TRANSPORT: 'p11kit-remote' },
  },
  // The conformance runner against SoftHSM2, the emulated card and the remote HSM, as a user runs it:
  // alone in its process. It lends itself the process's default service, loads the PIN-counter shim
  // with its own settings and blocks PINs, none of which may meet another suite's tokens or modules.
  {
    name: 'conformance runs',
    args: ['--no-config', '--reporter', 'test/support/summary-reporter.cjs', '--timeout', '120000', 'dist/test/conformance/run-*.test.js'],
    env: {},
  },
];

/** Runs mocha, copying its output through; resolves with its exit code and its last summary line. */
function runPass(pass) {
  return new Promise((resolve) => {
    process.stdout.write(`\n=== pass: ${pass.name} ===\n`);
    const child = spawn(process.execPath, [mochaBin, ...pass.args], {
      cwd: root,
      env: { ...process.env, ...pass.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let summary;
    let partial = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        const match = SUMMARY.exec(line.trim());
        if (match) summary = { passed: Number(match[1]), failed: Number(match[2]) };
      }
    });
    child.on('error', (error) => {
      process.stderr.write(`cannot run mocha: ${error.message}\n`);
      resolve({ code: 1, summary });
    });
    child.on('close', (code, signal) => {
      const match = SUMMARY.exec(partial.trim());
      if (match) summary = { passed: Number(match[1]), failed: Number(match[2]) };
      resolve({ code: code ?? (signal ? 1 : 0), summary });
    });
  });
}

let passed = 0;
let failed = 0;
for (const pass of passes) {
  const { code, summary } = await runPass(pass);
  if (summary) {
    passed += summary.passed;
    failed += summary.failed;
  }
  // A pass that crashed or was killed before its reporter's summary line counts as one failure, so a
  // broken run can never add up to "0 failed".
  if (!summary || (code !== 0 && summary.failed === 0)) {
    process.stderr.write(`pass "${pass.name}" ended with exit code ${code} ${summary ? '' : 'and no summary line'}\n`);
    failed += 1;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
