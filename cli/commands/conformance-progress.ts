/**
 * What `p11-ksp conformance run` shows on stderr while the suite runs, drawn from the runner's events.
 *
 * On a terminal: one live line rewritten in place — a spinner, n/total, the case, the step it is in
 * (the case's progress texts, such as "generating RSA-4096…") and the elapsed time — with failures
 * printed above it as they happen. Without a terminal (CI logs, a pipe): one plain line per finished
 * case, because carriage-return redrawing turns a log file into noise.
 *
 * Written here rather than with ora or cli-progress: the PIN prompt appears in the middle of the run
 * (the runner asks for the PIN when the first case needs it), and the live line must step aside for it
 * and come back afterwards (pause/resume); ora also takes over stdin while it spins, which would fight
 * the hidden prompt. The line itself is a dozen lines of code.
 */
import type { CaseOutcome, RunEvent } from '../../conformance/case.js';
import { codeAndMessage, formatDuration, visibleText } from '../../conformance/report/visible.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const REDRAW_MS = 100;
/** Erases the current terminal line and returns to its start. */
const CLEAR_LINE = '\r\x1b[2K';

/** The minimal stream the view writes to (process.stderr, or a test's collector). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** One line per outcome: "passed", "FAILED", "n/a", "skipped" and what follows it. */
function outcomeLine(area: string, id: string, outcome: CaseOutcome): string {
  const name = `${area}/${id}`;
  switch (outcome.status) {
    case 'passed': return `passed   ${name} (${formatDuration(outcome.durationMs)})`;
    case 'failed': return `FAILED   ${name} (${formatDuration(outcome.durationMs)}): ${oneLine(codeAndMessage(outcome.error))}`;
    case 'not-applicable': return `n/a      ${name}: ${oneLine(outcome.reason)}`;
    case 'skipped': return `skipped  ${name}: ${oneLine(outcome.reason)}`;
  }
}

/** Token-supplied text on one line, control characters visible. */
function oneLine(text: string): string {
  return visibleText(text).replace(/\s*[\r\n]+\s*/g, ' ');
}

/** mm:ss since the start. */
function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export class ConformanceProgress {
  private readonly live: boolean;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private paused = false;
  private current: { index: number; total: number; name: string; step?: string } | undefined;

  constructor(private readonly stream: ProgressStream = process.stderr) {
    this.live = stream.isTTY === true;
  }

  /** Feeds one runner event to the view. */
  readonly onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case 'probed':
        this.print(`testing "${oneLine(event.target.label)}" (serial ${oneLine(event.target.serial)}) in ${oneLine(event.target.reader)}: ${event.cases} cases`);
        break;
      case 'case-start':
        // The runner counts from 0; people count from 1.
        this.current = { index: event.index + 1, total: event.total, name: `${event.area}/${event.id}` };
        this.start();
        this.draw();
        break;
      case 'case-progress':
        if (this.current) this.current.step = oneLine(event.text);
        this.draw();
        break;
      case 'case-end': {
        const line = `[${event.index + 1}/${event.total}] ${outcomeLine(event.area, event.id, event.outcome)}`;
        // On a terminal only failures stay on screen (the summary lists the rest); in a log, every case.
        if (!this.live || event.outcome.status === 'failed') this.print(line);
        this.current = undefined;
        this.draw();
        break;
      }
    }
  };

  /** Takes the live line off the screen (before a prompt). */
  pause(): void {
    this.paused = true;
    this.clear();
  }

  /** Brings the live line back (after a prompt). */
  resume(): void {
    this.paused = false;
    this.draw();
  }

  /** Stops redrawing and leaves the screen clean for the summary. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.current = undefined;
    this.clear();
  }

  private start(): void {
    if (!this.live || this.timer) return;
    this.timer = setInterval(() => { this.frame++; this.draw(); }, REDRAW_MS);
    this.timer.unref();
  }

  /** A permanent line: above the live line on a terminal, plainly otherwise. */
  private print(text: string): void {
    this.clear();
    this.stream.write(`p11-ksp: ${text}\n`);
    this.draw();
  }

  private clear(): void {
    if (this.live) this.stream.write(CLEAR_LINE);
  }

  private draw(): void {
    if (!this.live || this.paused || !this.current) return;
    const c = this.current;
    const spinner = SPINNER[this.frame % SPINNER.length]!;
    // Step text last: on a narrow terminal it is what gets cut, never the counter or the case.
    let line = `${spinner} ${clock(Date.now() - this.startedAt)} [${c.index}/${c.total}] ${c.name}${c.step ? ` — ${c.step}` : ''}`;
    // Never wrap: a wrapped line cannot be erased with one carriage return.
    // A pseudo-terminal may report 0 columns (not yet sized): assume the classic 80 then.
    const width = (this.stream.columns && this.stream.columns >= 20 ? this.stream.columns : 80) - 1;
    if ([...line].length > width) line = `${[...line].slice(0, width - 1).join('')}…`;
    this.stream.write(`${CLEAR_LINE}${line}`);
  }
}
