import pino from 'pino';
import { parseCli } from '../cli-args.js';
import { loadConfig } from '../config/load.js';
import { EXIT_CONFIG, isConfigProblem } from '../errors.js';
import { buildGateway } from '../gateway.js';
import type { Subcommand } from './index.js';
import { EXIT_USAGE, UsageError } from './arguments.js';

export const RELOAD_USAGE = `Usage: rtorrent-gateway reload --pid PID [--config FILE] [options]

Checks the configuration and the files it names (htpasswd, htdigest, TLS) as --check does, then
sends SIGHUP to the running gateway PID, which reloads them. Nothing is sent when the check fails.
Give the same --config and options the gateway was started with; RTORRENT_GATEWAY_* variables
count as they do for the gateway. For systemd's ExecReload= and for \`docker exec\`, where
/bin/kill may be missing.

  --pid PID     the gateway's process id ($MAINPID in a unit; 1 inside its container)
  --help

Exit status: 0 signalled; 78 the configuration (file, options or variables) is invalid, nothing
sent; 2 wrong usage (no usable --pid); 1 the process could not be signalled.
`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
/** EX_CONFIG, as the gateway itself exits on a configuration it cannot start with. */


/**
 * Takes --pid out of the arguments and leaves the rest to the gateway's own parser, so ExecReload=
 * can repeat ExecStart='s options word for word.
 */
function takePid(argv: readonly string[]): { pid: string | undefined; rest: string[] } {
  let pid: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let value: string | undefined;
    if (arg === '--pid') {
      value = argv[i + 1];
      if (value === undefined) throw new UsageError('reload', '--pid needs a process id');
      i++;
    } else if (arg.startsWith('--pid=')) {
      value = arg.slice('--pid='.length);
    } else {
      rest.push(arg);
      continue;
    }
    if (pid !== undefined) throw new UsageError('reload', '--pid given twice');
    pid = value;
  }
  return { pid, rest };
}

/**
 * process.kill reads 0 as "my process group" and a negative number as "every process in that
 * group" (-1: every process it may signal), so only a plain positive number is taken: an empty
 * $MAINPID must never turn a reload into a SIGHUP to everything.
 */
function parsePid(raw: string | undefined): number {
  if (raw === undefined) throw new UsageError('reload', 'name the running gateway with --pid PID');
  if (!/^[1-9][0-9]{0,9}$/.test(raw)) throw new UsageError('reload', `--pid ${JSON.stringify(raw)} is not a process id`);
  return Number(raw);
}

/** The gateway's own SIGHUP handler would refuse what this refuses; checking first makes the refusal the reload command's exit status. */
async function check(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  // An unknown option or variable is a configuration error here as it is for the gateway (78).
  const request = parseCli(argv, env);
  if (request.check || request.healthcheck || request.version) throw new UsageError('reload', 'reload takes the gateway\'s configuration options and --pid only');
  const config = loadConfig({ file: request.configFile, overrides: request.overrides });
  // The build --check does: policies compiled, htpasswd, htdigest and TLS files read, nothing
  // listening and rtorrent not asked. Warnings (a user without a password) go to stderr at once,
  // before the process exits.
  const logger = pino({ level: config.log.level, base: { name: 'rtorrent-gateway' } }, pino.destination({ dest: 2, sync: true }));
  const app = await buildGateway(config, { logger, processMetrics: false });
  await app.close();
}

export const reload: Subcommand = {
  async run(argv, env) {
    if (argv.includes('--help')) {
      process.stdout.write(RELOAD_USAGE);
      return EXIT_OK;
    }
    let pid: number;
    try {
      const taken = takePid(argv);
      pid = parsePid(taken.pid);
      await check(taken.rest, env);
    } catch (error) {
      if (error instanceof UsageError) {
        process.stderr.write(`rtorrent-gateway reload: ${error.message}\n`);
        return EXIT_USAGE;
      }
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`rtorrent-gateway reload: not reloading, the running gateway keeps its configuration: ${message}\n`);
      return isConfigProblem(error) ? EXIT_CONFIG : EXIT_FAILED;
    }
    try {
      process.kill(pid, 'SIGHUP');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ESRCH' ? 'no such process' : code === 'EPERM' ? 'not allowed to signal it' : (error as Error).message;
      process.stderr.write(`rtorrent-gateway reload: cannot signal PID ${pid}: ${reason}\n`);
      return EXIT_FAILED;
    }
    process.stdout.write(`configuration OK; sent SIGHUP to PID ${pid} (its log says "configuration reloaded")\n`);
    return EXIT_OK;
  },
};
