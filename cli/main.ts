#!/usr/bin/env node
/**
 * p11-ksp: the command line. Parses arguments (commander), runs one command, and turns its outcome
 * into the documented exit code (exit-codes.ts). Each command lives in commands/.
 *
 * Why the hidden --pin/--so-pin options: someone will try `--pin 1234`. Left unknown, commander would
 * answer "unknown option '--pin=1234'", echoing the PIN into the terminal and CI logs; declared, they
 * are refused with a message that points at --pin-file and never repeats the value.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { installTerminalUserInterface } from '../smartcard/terminal-ui.js';
import { conformanceCommands } from './commands/conformance.js';
import { demoCommand, type DemoOptions } from './commands/demo.js';
import { initCommand, type InitOptions } from './commands/init.js';
import {
  providerAddCommand, type ProviderAddOptions, providerImportCommand, type ProviderImportOptions, providerListCommand,
  type ProviderListOptions, providerRemoveCommand, type ProviderRemoveOptions,
} from './commands/provider.js';
import { readersCommand, type ReadersOptions } from './commands/readers.js';
import { cacheClearCommand, type CacheClearOptions, cacheShowCommand, type CacheShowOptions } from './commands/cache.js';
import { cardsCommand, type CardsOptions } from './commands/cards.js';
import { certsCommand, type CertsOptions } from './commands/certs.js';
import {
  containersCreateCommand, type ContainersCreateOptions, containersDeleteCommand, type ContainersDeleteOptions, containersListCommand,
  type ContainersListOptions, CREATE_ALGORITHMS,
} from './commands/containers.js';
import { signCommand, type SignOptions } from './commands/sign.js';
import { verifyCommand, type VerifyOptions } from './commands/verify.js';
import { ExitCode, exitCodeFor, UsageError } from './exit-codes.js';
import { DEFAULT_TOKEN_LABEL } from '../home.js';
import { Output } from './output.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const PIN_IN_ARGV = 'PINs are never taken from the command line (other users can read it in /proc, and it stays in shell history): use --pin-file FILE or type it at the prompt';

/**
 * Declares --pin/--so-pin on the program only to refuse them (see the header). Program options are
 * recognised after the subcommand too, so this covers `p11-ksp demo --pin=…` as well.
 */
function refusePinOptions(program: Command): Command {
  return program
    .addOption(new Option('--pin <pin>').hideHelp())
    .addOption(new Option('--so-pin <pin>').hideHelp())
    .hook('preAction', (root) => {
      const opts = root.opts<{ pin?: unknown; soPin?: unknown }>();
      if (opts.pin !== undefined || opts.soPin !== undefined) throw new UsageError(PIN_IN_ARGV);
    });
}

/** Runs a command's action and records its exit code; errors are printed once, here. */
function action<T>(run: (options: T, out: Output) => Promise<void>, json: (options: T) => boolean = () => false) {
  return async (options: T): Promise<void> => {
    const out = new Output(json(options));
    try {
      await run(options, out);
      process.exitCode = ExitCode.OK;
    } catch (err) {
      out.error(err);
      process.exitCode = exitCodeFor(err);
    }
  };
}

/** action() for a command with one positional argument (commander passes it before the options). */
function actionWithArg<T>(run: (arg: string, options: T, out: Output) => Promise<void>, json: (options: T) => boolean = () => false) {
  return async (arg: string, options: T): Promise<void> => action<T>((o, out) => run(arg, o, out), json)(options);
}

/** --priority: a whole number (negative allowed); anything else is a usage error from commander. */
function parsePriority(value: string): number {
  const n = Number(value);
  if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number');
  return n;
}

function providerCommands(program: Command): void {
  const provider = program.command('provider')
    .description('manage the provider registry: which PKCS#11 module or plug-in serves which card (kept in P11KSP_HOME/providers)');

  provider.command('add <name>')
    .description('register a card type: a PKCS#11 module (minidriver) or a JavaScript plug-in, and the cards it serves')
    .addOption(new Option('--module <path>', 'PKCS#11 module (.so) serving the card').conflicts('plugin'))
    .addOption(new Option('--plugin <path>', 'JavaScript module implementing the provider interface').conflicts('module'))
    .option('--atr <hex>', 'the card ATR to match (hex; spaces and colons allowed)')
    .option('--atr-mask <hex>', 'mask ANDed with the card ATR before comparing (same length as --atr)')
    .option('--manufacturer <pattern>', 'glob (* ?) on the token manufacturer')
    .option('--model <pattern>', 'glob (* ?) on the token model')
    .option('--label <pattern>', 'glob (* ?) on the token label')
    .option('--serial <pattern>', 'glob (* ?) on the token serial number')
    .option('--priority <n>', 'higher wins regardless of install order (default 0)', parsePriority)
    .option('--replace', 'overwrite a registration of the same name (it becomes the most recent)')
    .option('--json', 'print one JSON object')
    .action(actionWithArg<ProviderAddOptions>(providerAddCommand, (o) => o.json === true));

  provider.command('list')
    .description('list registrations in precedence order (highest priority, then most recently installed)')
    .option('--json', 'print one JSON object')
    .action(action<ProviderListOptions>(providerListCommand, (o) => o.json === true));

  provider.command('remove <name>')
    .description('remove a registration')
    .option('--json', 'print one JSON object')
    .action(actionWithArg<ProviderRemoveOptions>(providerRemoveCommand, (o) => o.json === true));

  provider.command('import-p11kit')
    .description('register the modules p11-kit is configured to load (pkcs11.conf module files)')
    .option('--include-trust', 'also import trust-policy modules (p11-kit-trust: CA anchors, not cards)')
    .option('--replace', 're-import modules already registered under the same name')
    .option('--json', 'print one JSON object')
    .action(action<ProviderImportOptions>(providerImportCommand, (o) => o.json === true));
}

/** --bits: a whole positive number (the card's CP_CARD_KEYSIZES decides which ones it takes). */
function parseBits(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a key size in bits, such as 2048');
  return n;
}

const MODULE_HELP = 'a PKCS#11 module to use instead of the registered providers / embedded store';
const READER_HELP = 'the reader whose card to use (names as `p11-ksp readers` shows them)';
const PIN_FILE_HELP = 'read the user PIN from the first line of this file (else a hidden prompt on a terminal)';

function containerCommands(program: Command): void {
  const containers = program.command('containers')
    .description('list, create and delete key containers on the cards present (CNG: NCryptEnumKeys, NCryptCreatePersistedKey, NCryptDeleteKey)');

  containers.command('list')
    .description('containers with their keys: key spec, algorithm, bits, certificate; * marks the default container')
    .option('--module <path>', MODULE_HELP)
    .option('--reader <name>', READER_HELP)
    .option('--json', 'print one JSON object (schema p11-ksp/containers/v1)')
    .action(action<ContainersListOptions>(containersListCommand, (o) => o.json === true));

  containers.command('create <name>')
    .description('generate a key pair on the card in a new container (exit 8 if the name is taken, unless --overwrite)')
    .addOption(new Option('--algorithm <alg>', 'key algorithm').choices([...CREATE_ALGORITHMS]).default('RSA'))
    .option('--bits <n>', 'RSA key size (default 2048)', parseBits)
    .addOption(new Option('--key-spec <spec>', 'RSA key slot (default exchange)').choices(['exchange', 'signature']))
    .option('--overwrite', 'replace a container of the same name')
    .option('--module <path>', MODULE_HELP)
    .option('--reader <name>', READER_HELP)
    .option('--pin-file <file>', PIN_FILE_HELP)
    .action(actionWithArg<ContainersCreateOptions>(containersCreateCommand));

  containers.command('delete <name>')
    .description('delete a container and its keys from the card (exit 6 if there is none)')
    .option('--module <path>', MODULE_HELP)
    .option('--reader <name>', READER_HELP)
    .option('--pin-file <file>', PIN_FILE_HELP)
    .action(actionWithArg<ContainersDeleteOptions>(containersDeleteCommand));
}

function signingCommands(program: Command): void {
  const hashOption = (): Option => new Option('--hash <alg>', 'hash the data with').choices(['sha256', 'sha384', 'sha512', 'sha1']).default('sha256');
  const paddingOption = (): Option => new Option('--padding <pad>', 'RSA signature padding (default pkcs1; not for ECDSA keys)').choices(['pkcs1', 'pss']);

  program.command('sign')
    .description('hash a file and sign the hash with a card key (NCryptSignHash); RSA big-endian, ECDSA r||s')
    .requiredOption('--key <container>', 'the container whose key signs')
    .requiredOption('--in <file>', 'the data to sign ("-" for standard input)')
    .requiredOption('--out <file>', 'where to write the signature ("-" for standard output)')
    .addOption(hashOption())
    .addOption(paddingOption())
    .option('--module <path>', MODULE_HELP)
    .option('--reader <name>', READER_HELP)
    .option('--pin-file <file>', PIN_FILE_HELP)
    .action(action<SignOptions>(signCommand));

  program.command('verify')
    .description('check a signature with a card key (NCryptVerifySignature): exit 0 valid, 10 invalid')
    .requiredOption('--key <container>', 'the container whose key signed')
    .requiredOption('--signature <file>', 'the signature, as `p11-ksp sign` writes it')
    .requiredOption('--in <file>', 'the signed data ("-" for standard input)')
    .addOption(hashOption())
    .addOption(paddingOption())
    .option('--module <path>', MODULE_HELP)
    .option('--reader <name>', READER_HELP)
    .action(action<VerifyOptions>(verifyCommand));
}

function cacheCommands(program: Command): void {
  const cache = program.command('cache')
    .description('the global data cache of public card data in P11KSP_HOME/cache');
  cache.command('show')
    .description('items cached per card GUID, their sizes and freshness counters (PINs are never listed: see the output)')
    .option('--json', 'print one JSON object (schema p11-ksp/cache/v1)')
    .action(action<CacheShowOptions>(cacheShowCommand, (o) => o.json === true));
  cache.command('clear')
    .description('empty the global data cache, or only one card\'s items')
    .option('--card <guid>', 'only this card (its GUID as `p11-ksp cards` shows it)')
    .action(action<CacheClearOptions>(cacheClearCommand));
}

function buildProgram(): Command {
  const program = refusePinOptions(new Command('p11-ksp'))
    .description('The Windows smart-card key-storage model (card minidriver, CNG KSP, CryptoAPI CSP) on any PKCS#11 token')
    .version(version())
    .exitOverride()
    .showHelpAfterError('(run p11-ksp --help for usage)')
    .addHelpText('after', [
      '',
      'With no configuration p11-ksp keeps its own SoftHSM2 token store in P11KSP_HOME',
      '(default $XDG_DATA_HOME/p11-ksp or ~/.local/share/p11-ksp). Set P11KSP_SOFTHSM_MODULE',
      'to use another libsofthsm2.so. PINs are read at a hidden prompt or from a file, never from argv.',
      'Listings take --json (one document with a "schema" field; docs/cli-json.md).',
      '',
      'Exit codes: 0 ok, 1 failure, 2 usage, 3 PIN incorrect, 4 PIN blocked, 5 no card,',
      '6 not found, 7 unsupported, 8 exists already, 9 conformance failures,',
      '10 signature invalid, 130 cancelled.',
    ].join('\n'));

  program.command('init')
    .description('set up the embedded store\'s token (no-op if it exists)')
    .option('--label <label>', 'token label', DEFAULT_TOKEN_LABEL)
    .option('--pin-file <file>', 'read the new user PIN from the first line of this file')
    .option('--so-pin-file <file>', 'read the new SO (administrator) PIN from the first line of this file')
    .action(action<InitOptions>(initCommand));

  program.command('demo')
    .description('walk the smart-card flow end to end: open, authenticate, create a container, generate, sign/verify, wrap/unwrap, clean up')
    .option('--pin-file <file>', 'read the user PIN of the home token from the first line of this file')
    .option('--throwaway', 'use a throw-away token with a random in-memory PIN (the default without a terminal)')
    .option('--label <label>', 'label of the home token to use', DEFAULT_TOKEN_LABEL)
    .option('--json', 'print one JSON object with the steps')
    .action(action<DemoOptions>(demoCommand, (o) => o.json === true));

  program.command('readers')
    .description('list readers (slots) and the cards (tokens) in them')
    .option('--module <path>', 'a PKCS#11 module to list instead of the embedded store')
    .option('--json', 'print one JSON object')
    .action(action<ReadersOptions>(readersCommand, (o) => o.json === true));

  program.command('cards')
    .description('the cards present: reader, ATR, label, serial, card GUID, serving registration, free containers, PIN facts')
    .option('--module <path>', MODULE_HELP)
    .option('--reader <name>', READER_HELP)
    .option('--json', 'print one JSON object (schema p11-ksp/cards/v1)')
    .action(action<CardsOptions>(cardsCommand, (o) => o.json === true));

  containerCommands(program);

  program.command('certs')
    .description('certificates of the card keys: subject, issuer, serial, validity, SHA-1 thumbprint, container, key spec')
    .option('--module <path>', MODULE_HELP)
    .option('--reader <name>', READER_HELP)
    .option('--export <dir>', 'also write each as <container>-<keyspec>.cer (DER) in this folder')
    .option('--json', 'print one JSON object (schema p11-ksp/certs/v1)')
    .action(action<CertsOptions>(certsCommand, (o) => o.json === true));

  signingCommands(program);
  cacheCommands(program);
  providerCommands(program);
  conformanceCommands(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end "successfully"; every other commander error is a usage error.
      process.exitCode = err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
      return;
    }
    new Output(false).error(err); // a hook's UsageError (--pin in argv) lands here
    process.exitCode = exitCodeFor(err);
  }
}

// Card and PIN prompts of the smart-card layer (a card to insert, a card's PIN) are asked on the
// terminal when there is one and no application UI is registered; without a terminal they stay silent.
installTerminalUserInterface();
await main(process.argv);
