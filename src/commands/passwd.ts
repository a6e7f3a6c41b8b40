import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import { access, open, readFile, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ReadStream } from 'node:tty';
import bcrypt from 'bcryptjs';
import { loadConfig } from '../config/load.js';
import { ENV_PREFIX } from '../config/keys.js';
import { overridesFromEnv } from '../config/overrides.js';
import { GatewayError, HtpasswdError } from '../errors.js';
import type { Subcommand } from './index.js';
import { configFileFrom, EXIT_USAGE, subcommandArguments, UsageError } from './arguments.js';
import { credentialLines } from '../auth/credential-file.js';

/**
 * Apache's `htpasswd -B` still defaults to 5, chosen in 2012; each step doubles the work. At 12 a
 * guess costs about 0.3 s in bcryptjs on a current core, 128 times what cost 5 asks of someone who
 * has copied the file. The gateway pays that only for a credential it has not verified in the last
 * 15 minutes (auth/credential-cache.ts), and the login throttle bounds how many wrong guesses it
 * is made to check.
 */
const BCRYPT_COST = 12;

/**
 * A new file is readable by its group and nobody else: the service reads it through its group
 * (root:rtorrent-gateway 0640, as the README's install steps set up), and the hashes must not be
 * readable by every local user, who could then guess passwords offline at their leisure.
 */
const NEW_FILE_MODE = 0o640;

/** Apache's htpasswd refuses longer names; a file that htpasswd itself cannot edit helps no one. */
const MAX_USER_BYTES = 255;

/** Far more than any password; stops a mistaken `--stdin < big.iso` from being read whole. */
const MAX_STDIN_LINE_BYTES = 4096;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
/** What a shell reports for a command stopped by Ctrl-C (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;

export const PASSWD_USAGE = `Usage: rtorrent-gateway passwd [--htpasswd FILE | --config FILE] [--stdin] USER

Adds USER to the gateway's htpasswd file with a bcrypt hash (cost ${BCRYPT_COST}), or replaces USER's
password. Every other line is kept as it was; the file is replaced in one step (a temporary file in
the same directory, then a rename), keeping its mode and, for root, its owner and group. A new file
gets mode 0640 and, for root, its directory's group.

  --htpasswd FILE   the htpasswd file
  --config FILE     the gateway's TOML config; its auth.htpasswd names the file
                    (default: ${ENV_PREFIX}CONFIG, with ${ENV_PREFIX}* variables applied)
  --stdin           read the password from the first line of standard input instead of asking
                    twice on the terminal
  --help

A running gateway sees the change on reload (systemctl reload rtorrent-gateway, or SIGHUP).
Exit status: 0 done, 2 wrong usage, 1 any other failure (nothing is changed).
`;

/** Something to fix on the command line: exit 2. */

/** The password typed or piped cannot be used: exit 1, nothing changed. */
class PasswordRefusedError extends HtpasswdError {}

/** Ctrl-C at a password prompt. */
class InterruptedError extends Error {}

interface PasswdRequest {
  readonly user: string;
  readonly fromStdin: boolean;
  readonly file: PasswordFile;
}

interface PasswordFile {
  readonly path: string;
  /** Kept apart from the htpasswd file, so it does not follow a password change made here. */
  readonly htdigest?: { readonly path: string; readonly realm: string };
}

function usage(message: string): UsageError {
  return new UsageError('passwd', message);
}

/** Why `user` cannot be an htpasswd user name, as the gateway (auth/credential-file.ts) and Apache read the file. */
function userNameProblem(user: string): string | undefined {
  if (user === '') return 'is empty';
  if (user.includes(':')) return 'contains ":", which separates the name from the hash in an htpasswd line';
  if (/[\r\n]/.test(user)) return 'contains a line break';
  // [access.users] takes no name with white space (config/schema.ts), so such a user could never be let in.
  if (/\s/.test(user)) return 'contains white space, which [access.users] does not take';
  if (user.startsWith('#')) return 'starts with "#", which would make its line a comment';
  if (Buffer.byteLength(user, 'utf8') > MAX_USER_BYTES) return `is longer than ${MAX_USER_BYTES} bytes, the most Apache's htpasswd takes`;
  return undefined;
}

/** The gateway's own precedence: --htpasswd, else what the config file and RTORRENT_GATEWAY_* variables give. */
function passwordFile(values: { htpasswd?: string; config?: string }, env: NodeJS.ProcessEnv): PasswordFile {
  if (values.htpasswd !== undefined && values.config !== undefined) throw usage('give either --htpasswd or --config, not both');
  if (values.htpasswd !== undefined) {
    if (values.htpasswd === '') throw usage('--htpasswd needs a file name');
    return { path: values.htpasswd };
  }
  if (values.config === '') throw usage('--config needs a file name');
  const configFile = configFileFrom(values.config, env);
  const overrides = overridesFromEnv(env);
  const htpasswdFromEnv = overrides.some((override) => override.leaf.path.join('.') === 'auth.htpasswd');
  if (configFile === undefined && !htpasswdFromEnv) {
    throw usage(`name the htpasswd file with --htpasswd FILE, or the gateway's config with --config FILE (or ${ENV_PREFIX}CONFIG), whose auth.htpasswd names it`);
  }
  const { auth } = loadConfig({ file: configFile, overrides });
  return { path: auth.htpasswd, ...(auth.htdigest !== undefined ? { htdigest: { path: auth.htdigest, realm: auth.realm } } : {}) };
}

function parseRequest(argv: readonly string[], env: NodeJS.ProcessEnv): PasswdRequest | 'help' {
  const { values, positionals } = subcommandArguments('passwd', argv, {
    htpasswd: { type: 'string' },
    config: { type: 'string' },
    stdin: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help === true) return 'help';
  if (positionals.length !== 1) {
    throw usage(positionals.length === 0 ? 'name the USER whose password to set' : `one USER at a time, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  const user = positionals[0] as string;
  const problem = userNameProblem(user);
  if (problem !== undefined) throw usage(`USER ${JSON.stringify(user)} ${problem}; choose another user name`);
  return { user, fromStdin: values.stdin === true, file: passwordFile(values, env) };
}

// ---------------------------------------------------------------------------------------------
// The password

function checkPassword(password: string): string {
  if (password === '') throw new PasswordRefusedError('the password is empty; nothing was changed');
  if (bcrypt.truncates(password)) {
    // Apache's bcrypt stops at the same byte, so everything after it would not count anywhere.
    throw new PasswordRefusedError(
      `the password is ${Buffer.byteLength(password, 'utf8')} bytes long in UTF-8, and bcrypt uses only the first 72; choose a shorter one (nothing was changed)`,
    );
  }
  return password;
}

async function firstLineOf(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    const newline = bytes.indexOf(0x0a);
    chunks.push(newline < 0 ? bytes : bytes.subarray(0, newline));
    length += newline < 0 ? bytes.length : newline;
    if (length > MAX_STDIN_LINE_BYTES) throw new PasswordRefusedError(`the first line of standard input is over ${MAX_STDIN_LINE_BYTES} bytes; give the password alone on it`);
    // Leaving the loop stops reading: whatever follows the first line is not ours to consume.
    if (newline >= 0) break;
  }
  let line: string;
  try {
    line = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new PasswordRefusedError('the password on standard input is not valid UTF-8, which is how browsers and clients send it');
  }
  // A file written on Windows ends its line with CR LF; a CR typed into a password is no one's intent.
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/**
 * Lines typed on a terminal without echo. Node has no switch for echo alone, so the terminal goes
 * into raw mode and the keys the line discipline would handle (Enter, Backspace, Ctrl-U, Ctrl-C,
 * Ctrl-D) are handled here. Lines are queued, so a paste of both answers at once loses nothing.
 */
class HiddenLines {
  readonly #input: ReadStream;
  readonly #lines: string[] = [];
  #typed = '';
  #ended: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #onData = (text: string): void => this.#keys(text);

  constructor(input: ReadStream) {
    this.#input = input;
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.on('data', this.#onData);
    input.resume();
  }

  #keys(text: string): void {
    for (const key of text) {
      if (key === '\r' || key === '\n') {
        this.#lines.push(this.#typed);
        this.#typed = '';
      } else if (key === '\u0003') {
        this.#ended = new InterruptedError('interrupted; nothing was changed');
      } else if (key === '\u0004') {
        if (this.#typed === '') this.#ended ??= new PasswordRefusedError('no password typed (end of input); nothing was changed');
      } else if (key === '\u007f' || key === '\b') {
        this.#typed = [...this.#typed].slice(0, -1).join('');
      } else if (key === '\u0015') {
        this.#typed = '';
      } else {
        this.#typed += key;
      }
    }
    this.#wake?.();
  }

  async next(prompt: string, output: NodeJS.WritableStream): Promise<string> {
    output.write(prompt);
    while (this.#lines.length === 0 && this.#ended === undefined) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    output.write('\n');
    const line = this.#lines.shift();
    if (line !== undefined) return line;
    throw this.#ended as Error;
  }

  close(): void {
    this.#input.off('data', this.#onData);
    this.#input.setRawMode(false);
    this.#input.pause();
  }
}

async function askTwice(input: ReadStream, output: NodeJS.WritableStream, user: string): Promise<string> {
  const lines = new HiddenLines(input);
  try {
    const first = checkPassword(await lines.next(`New password for ${user}: `, output));
    const second = await lines.next('Re-type the new password: ', output);
    if (first !== second) throw new PasswordRefusedError('the two passwords do not match; nothing was changed');
    return first;
  } finally {
    lines.close();
  }
}

/** How the password will be read, settled before anything else so a wrong invocation fails at once. */
function passwordSource(request: PasswdRequest, stdin: NodeJS.ReadStream): () => Promise<string> {
  if (request.fromStdin) return async () => checkPassword(await firstLineOf(stdin));
  if (stdin.isTTY !== true) {
    throw usage('standard input is not a terminal, so the password cannot be asked for without echo; pipe it on one line with --stdin');
  }
  return () => askTwice(stdin as ReadStream, process.stderr, request.user);
}

// ---------------------------------------------------------------------------------------------
// The file

interface CurrentFile {
  /** What gets replaced: a symbolic link's target, so the link stays in place. */
  readonly target: string;
  /** Undefined: the file does not exist yet. */
  readonly existing: { readonly text: string; readonly stats: Stats } | undefined;
}

/** A word as a POSIX shell reads it, for commands the messages suggest. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function reasonOf(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  // Node appends ", open '<path>'"; our messages put the path in front already.
  return (e.message ?? String(error)).replace(/, \w+ '.*'$/, '');
}

async function currentFile(file: string): Promise<CurrentFile> {
  let target: string;
  try {
    target = await realpath(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new HtpasswdError(`cannot reach ${file}: ${reasonOf(error)}`, { cause: error });
    const directory = dirname(file);
    const parent = await stat(directory).catch((statError: NodeJS.ErrnoException) => {
      if (statError.code === 'ENOENT') {
        throw new HtpasswdError(
          `cannot create ${file}: its directory ${directory} does not exist; create it first (mkdir -p ${shellWord(directory)}, ` +
            `or install -d -m 0750 ${shellWord(directory)} so only its owner and group may look inside)`,
        );
      }
      throw new HtpasswdError(`cannot create ${file}: ${directory}: ${reasonOf(statError)}`, { cause: statError });
    });
    if (!parent.isDirectory()) throw new HtpasswdError(`cannot create ${file}: ${directory} is not a directory`);
    return { target: file, existing: undefined };
  }
  const stats = await stat(target);
  if (stats.isDirectory()) throw new HtpasswdError(`${file} is a directory; name the htpasswd file inside it, e.g. ${join(file, 'htpasswd')}`);
  if (!stats.isFile()) throw new HtpasswdError(`${file} is not a regular file`);
  try {
    return { target, existing: { text: await readFile(target, 'utf8'), stats } };
  } catch (error) {
    throw new HtpasswdError(`cannot read ${file}: ${reasonOf(error)}; run as its owner or as root`, { cause: error });
  }
}

/**
 * What replacing the file needs, checked before a password is asked for: a new file beside it
 * (write access to the directory), and, short of root, owning the file, since the new one will
 * belong to whoever runs this.
 */
async function checkReplaceable(file: string, current: CurrentFile): Promise<void> {
  const directory = dirname(current.target);
  try {
    await access(directory, fsConstants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? `no permission to create files in ${directory} (the file is written as a new file there, then renamed into place); run as root or as the directory's owner`
        : `${directory}: ${reasonOf(error)}`;
    throw new HtpasswdError(`cannot write ${file}: ${why}`, { cause: error });
  }
  const uid = process.getuid?.();
  const owner = current.existing?.stats.uid;
  if (uid !== undefined && uid !== 0 && owner !== undefined && owner !== uid) {
    throw new HtpasswdError(`${file} belongs to uid ${owner}; replacing it as uid ${uid} would change its owner: run as root or as its owner`);
  }
}

/**
 * The file's text with USER's line set to `hash`. Lines are found the way the gateway reads them
 * (credentialLines(): BOM, surrounding white space and comments ignored); every other byte stays as
 * it was.
 */
function withEntry(text: string, file: string, user: string, hash: string): { text: string; replaced: boolean } {
  const lines = text.split('\n');
  const found = credentialLines(text)
    .filter(({ line }) => line.startsWith(`${user}:`))
    .map(({ lineNo }) => lineNo - 1);
  if (found.length > 1) {
    throw new HtpasswdError(
      `${file} defines user ${JSON.stringify(user)} on lines ${found.map((index) => index + 1).join(', ')}, which the gateway refuses; ` +
        'delete all but one of them, then run this again',
    );
  }
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const entry = `${user}:${hash}`;
  const index = found[0];
  if (index !== undefined) {
    const raw = lines[index] as string;
    lines[index] = `${index === 0 && raw.startsWith('\uFEFF') ? '\uFEFF' : ''}${entry}${raw.endsWith('\r') ? '\r' : ''}`;
    return { text: lines.join('\n'), replaced: true };
  }
  const separator = text === '' || text.endsWith('\n') ? '' : eol;
  return { text: `${text}${separator}${entry}${eol}`, replaced: false };
}

/**
 * The new file must be readable by whoever read the old one: the service usually reads it through
 * its group (root:rtorrent-gateway 0640), which a file created by another user would not have.
 */
async function keepOwnership(handle: FileHandle, file: string, existing: Stats | undefined, directory: string): Promise<void> {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  if (uid === 0) {
    // A new file takes its directory's group, which the README's `install -d -g rtorrent-gateway` sets.
    const owner = existing ?? { uid: 0, gid: (await stat(directory)).gid };
    await handle.chown(owner.uid, owner.gid);
    return;
  }
  if (existing === undefined) return;
  if (existing.gid !== (await handle.stat()).gid) {
    await handle.chown(uid, existing.gid).catch((error: unknown) => {
      throw new HtpasswdError(`cannot give the new ${file} its group (gid ${existing.gid}): ${reasonOf(error)}; run as root or as a member of that group`, { cause: error });
    });
  }
}

/**
 * Writes `text` to a new file beside `target` and renames it over `target`, so the gateway (which
 * may reload at any moment) reads either the old file or the new one, never half of one.
 */
async function replaceFile(file: string, current: CurrentFile, text: string): Promise<void> {
  const { target, existing } = current;
  const directory = dirname(target);
  const temp = join(directory, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    // Owner-only until the final mode is set, so the hashes are never readable by more than that.
    handle = await open(temp, 'wx', 0o600);
  } catch (error) {
    throw new HtpasswdError(`cannot write ${file}: ${directory}: ${reasonOf(error)}`, { cause: error });
  }
  try {
    await keepOwnership(handle, file, existing?.stats, directory);
    // After chown, which may clear set-id bits; explicit, because open()'s mode is cut by the umask.
    await handle.chmod(existing === undefined ? NEW_FILE_MODE : existing.stats.mode & 0o7777);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
    await handle.close();
    await rename(temp, target);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    if (error instanceof HtpasswdError) throw error;
    throw new HtpasswdError(`cannot write ${file}: ${reasonOf(error)}; it was left unchanged`, { cause: error });
  }
  // The rename is durable only once the directory is on disk too; a file system without
  // directory fsync has already made it so.
  const dir = await open(directory, 'r').catch(() => undefined);
  await dir?.sync().catch(() => undefined);
  await dir?.close();
}

// ---------------------------------------------------------------------------------------------

async function setPassword(request: PasswdRequest): Promise<string> {
  const { path } = request.file;
  const readPassword = passwordSource(request, process.stdin);
  // Looked at before asking, so a missing directory or a doubled user is reported before anyone types a password.
  const before = await currentFile(path);
  await checkReplaceable(path, before);
  if (before.existing !== undefined) withEntry(before.existing.text, path, request.user, '');
  const password = await readPassword();
  const hash = await bcrypt.hash(password, BCRYPT_COST);
  // Read again after hashing: the file may have changed while the password was being typed.
  const current = await currentFile(path);
  const updated = withEntry(current.existing?.text ?? '', path, request.user, hash);
  await replaceFile(path, current, updated.text);
  return updated.replaced ? `updated password of user ${request.user} in ${path}` : `added user ${request.user} to ${path}`;
}

export async function runPasswd(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    const request = parseRequest(argv, env);
    if (request === 'help') {
      process.stdout.write(PASSWD_USAGE);
      return EXIT_OK;
    }
    process.stdout.write(`${await setPassword(request)}\n`);
    const { htdigest } = request.file;
    if (htdigest !== undefined) {
      process.stderr.write(
        `rtorrent-gateway passwd: note: ${htdigest.path} (auth.htdigest) is unchanged; Digest clients keep the old password ` +
          `until you run: htdigest ${[htdigest.path, htdigest.realm, request.user].map(shellWord).join(' ')}\n`,
      );
    }
    return EXIT_OK;
  } catch (error) {
    if (error instanceof InterruptedError) {
      process.stderr.write(`rtorrent-gateway passwd: ${error.message}\n`);
      return EXIT_INTERRUPTED;
    }
    if (!(error instanceof GatewayError)) throw error;
    process.stderr.write(`rtorrent-gateway passwd: ${error.message}\n`);
    return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
  }
}

export const passwd: Subcommand = {
  run: runPasswd,
};
