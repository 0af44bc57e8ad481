// One warm front-end row, the same for CNG (NCrypt*) and CryptoAPI (Crypt*): the front end's key is
// opened once by its side (cng-side.ts, capi-side.ts) and the PIN cached; here each of the three
// sides — raw pkcs11js sync, the front-end call, and the minidriver call the front end makes on the
// same key — is warmed up, then measured in interleaved rounds of N operations (measure.ts). The row
// is the front end against raw; its note splits the gap into the front end's own cost (against the
// card call) and the bridge's (card call against raw).
import { type CaseResult, caseFrom, roundRatio } from './cases.js';
import { interleave, sequentialBlock, syncBlock } from './measure.js';

export interface FrontEndSides {
  /** Raw pkcs11js on the same key: C_SignInit + C_Sign (or C_DecryptInit + C_Decrypt), synchronous. */
  raw: () => unknown;
  /** The front-end call as an application writes it. */
  front: () => Promise<unknown>;
  /** The minidriver call the front end makes (CardSignData, CardRSADecrypt), same key, same arguments. */
  card: () => Promise<unknown>;
}

export interface FrontEndRow {
  /** The row's name in the report. */
  name: string;
  /** The front-end and card calls' names, for the labels and the note. */
  frontOp: string;
  cardOp: string;
  /** Operations per block, rounds, warm-up operations per side. */
  n: number;
  rounds: number;
  warmup: number;
  goal: number;
}

export async function measureFrontEnd(row: FrontEndRow, sides: FrontEndSides, log: (msg: string) => void): Promise<CaseResult> {
  log(`${row.name}: ${row.rounds} rounds × ${row.n} ops per side (raw sync, ${row.frontOp}, ${row.cardOp})…`);
  const res = await interleave({ raw: syncBlock(sides.raw), front: sequentialBlock(sides.front), card: sequentialBlock(sides.card) }, row.n, row.rounds, row.warmup);
  const { raw, front, card } = res.opsPerSecond;
  const result = caseFrom(row.name, 'raw pkcs11js sync', `await ${row.frontOp}, sequential`, raw, front, row.goal);
  result.note = `${row.frontOp} / await ${row.cardOp} on the same key (the front end's own cost, per-round median): ${roundRatio(front, card).toFixed(3)}; ${row.cardOp} / raw: ${roundRatio(card, raw).toFixed(3)}`;
  return result;
}
