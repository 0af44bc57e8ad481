/**
 * The contract between the conformance suite's cases and its runner.
 *
 * A case is data (area, group, id, what it needs) plus one async function. The runner (runner.ts)
 * turns the cases of the selected areas into a mocha suite, decides per case whether it runs, is not
 * applicable (the target lacks a capability, or the user did not allow destructive / PIN-lockout
 * work), or was skipped by the user, and reports each outcome. Areas live in areas/, one file each,
 * and register nothing globally: each exports its case list.
 *
 * Why cases are not plain mocha `it` calls: the decision "not applicable" needs the target's
 * capabilities, which are known only after the probe, and the report needs every case's identity
 * (area × case matrix) even for cases that did not run.
 */
import type { SmartCardService } from '../smartcard/service.js';
import type { CardModule } from '../minidriver/card-module.js';

/** The four areas, each runnable alone (`--areas`). */
export const AREAS = ['minidriver', 'cng', 'cryptoapi', 'interop'] as const;
export type AreaId = (typeof AREAS)[number];

/** What the target is, as the report shows it. */
export interface TargetIdentity {
  /** 'module' (a PKCS#11 module + token) or 'provider' (a registration in P11KSP_HOME). */
  kind: 'module' | 'provider';
  /** Module path, or the registration name. */
  source: string;
  label: string;
  serial: string;
  manufacturer: string;
  model: string;
  /** The reader (slot) the card is in, as the smart card service names it. */
  reader: string;
}

export type EcCurve = 'P-256' | 'P-384' | 'P-521';

/** What the probe found the target can do; cases decide applicability from this alone. */
export interface TargetCapabilities {
  /** Writes (container creation, deletion, certificate writes, key generation) are refused. */
  readOnly: boolean;
  /** RSA modulus sizes among 1024, 2048, 3072, 4096 the token generates or holds. */
  rsaKeySizes: number[];
  /** Curves the token supports for ECDSA / ECDH. */
  ecCurves: EcCurve[];
  /** PKCS#11 mechanism names the token lists (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP, CKM_ECDSA, ...). */
  mechanisms: ReadonlySet<string>;
  /** The user PIN can be changed (CardChangeAuthenticatorEx). */
  pinChange: boolean;
  /** The token reports remaining PIN tries, so lockout cases can check the counter. */
  pinRetryCounter: boolean;
  /** Key import through the minidriver (CardCreateContainerEx with a key blob) works. */
  keyImport: boolean;
  /** Containers already on the card (never modified by the suite), with their keys. */
  existingContainers: ExistingContainer[];
}

export interface ExistingContainer {
  name: string;
  /** AT_KEYEXCHANGE and/or AT_SIGNATURE keys present, with their algorithm and size. */
  keys: { keySpec: number; algorithm: 'RSA' | 'ECDSA' | 'ECDH'; bits: number }[];
  hasCertificate: boolean;
}

/** What a case may rely on. Built once per run by the runner. */
export interface CaseContext {
  readonly target: TargetIdentity;
  readonly capabilities: TargetCapabilities;
  /** The service over the target alone, also installed as the process's default service. */
  readonly service: SmartCardService;
  /**
   * A fresh minidriver context on the target's card (CardAcquireContext done by the runner, which
   * calls CardDeleteContext after the case).
   */
  cardModule(): Promise<CardModule>;
  /** The user PIN as bytes, for the duration of `use` only (the buffer is wiped afterwards). */
  withPin<T>(use: (pin: Uint8Array) => Promise<T>): Promise<T>;
  /**
   * A container name unique to this run (prefix `p11ksp-conf-`), recorded so the runner deletes what
   * the case created even when it fails. Destructive cases create only containers named by this.
   */
  ownContainer(stem: string): string;
  /** Adds a line to the case's details in the report (never a secret). */
  note(text: string): void;
  /** Progress for long steps (key generation): shown by the CLI while the case runs. */
  progress(text: string): void;
}

export interface CaseRequirements {
  /** A reason the target cannot do this (→ not applicable), or undefined when it can. */
  applicable?: (capabilities: TargetCapabilities) => string | undefined;
  /** Writes to the card (creates, deletes or changes its own containers): needs --allow-destructive. */
  destructive?: boolean;
  /** May block the user PIN: needs --allow-pin-lockout (and --allow-destructive). */
  pinLockout?: boolean;
  /** Long-running (key generation): the runner gives it a longer timeout and shows progress. */
  slow?: boolean;
}

export interface ConformanceCase {
  /** Stable identifier, unique within its area, used by --skip and in the reports: `group/kebab-name`. */
  id: string;
  /** One line saying what is checked. */
  title: string;
  requires?: CaseRequirements;
  run(ctx: CaseContext): Promise<void>;
}

export interface ConformanceArea {
  id: AreaId;
  title: string;
  cases: readonly ConformanceCase[];
}

/** One case's outcome, as the reports show it. */
export type CaseOutcome =
  | { status: 'passed'; durationMs: number; notes: string[] }
  | { status: 'failed'; durationMs: number; notes: string[]; error: { code?: string; message: string; stack?: string } }
  | { status: 'not-applicable'; reason: string }
  | { status: 'skipped'; reason: string };

/** One case of the matrix with its outcome. */
export interface CaseResult {
  area: AreaId;
  id: string;
  title: string;
  outcome: CaseOutcome;
}

/**
 * A whole run, as the reports (report/junit.ts, report/html.ts, report/summary.ts) and `--json` read
 * it. Plain data: it survives JSON.stringify (capabilities' mechanism set is a sorted array here).
 */
export interface RunResult {
  /** p11-ksp's version that ran the suite. */
  tool: { name: 'p11-ksp'; version: string };
  target: TargetIdentity;
  capabilities: Omit<TargetCapabilities, 'mechanisms'> & { mechanisms: string[] };
  /** ISO 8601 instants. */
  startedAt: string;
  finishedAt: string;
  /** The areas selected for this run, in AREAS order. */
  areas: { id: AreaId; title: string }[];
  /** What the user allowed and skipped. */
  options: { allowDestructive: boolean; allowPinLockout: boolean; skip: string[] };
  /** Every case of the selected areas, run or not, in declaration order. */
  results: CaseResult[];
  totals: { passed: number; failed: number; notApplicable: number; skipped: number };
}

/** Which token the suite runs against. */
export type ConformanceTarget =
  /** A PKCS#11 module and one of its tokens, by label or by serial (exactly one of the two). */
  | { kind: 'module'; module: string; tokenLabel?: string; tokenSerial?: string }
  /** A registration in P11KSP_HOME's provider registry (`p11-ksp provider add`): its first card present. */
  | { kind: 'provider'; provider: string };

/** What runConformance() reports while it runs (the CLI draws progress from these). */
export type RunEvent =
  | { type: 'probed'; target: TargetIdentity; cases: number }
  | { type: 'case-start'; area: AreaId; id: string; title: string; index: number; total: number }
  | { type: 'case-progress'; area: AreaId; id: string; text: string }
  | { type: 'case-end'; area: AreaId; id: string; outcome: CaseOutcome; index: number; total: number };

export interface ConformanceOptions {
  target: ConformanceTarget;
  /**
   * Asked at most once, when the first case needs the PIN (a prompt, or a --pin-file's first line).
   * The runner keeps it only in locked memory and wipes it when the run ends.
   */
  pin: () => Promise<Uint8Array>;
  /** Areas to run (default: all, in AREAS order). */
  areas?: readonly AreaId[];
  /** Case ids (`area/group/name`, or a prefix such as `cng/` or `cng/provider/`) the user skips. */
  skip?: readonly string[];
  allowDestructive?: boolean;
  allowPinLockout?: boolean;
  onEvent?: (event: RunEvent) => void;
  /**
   * Stops the run (Ctrl+C in the CLI): the case in progress finishes and its containers are deleted
   * as after any case; the cases not started yet are reported skipped. The result comes back as usual.
   */
  signal?: AbortSignal;
}
