#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=50
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from './config/schema.js';
import { EXIT_CONFIG, GatewayError, isConfigProblem } from './errors.js';
import { parseCli, USAGE } from './cli-args.js';
import { subcommandNamed } from './commands/index.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Where the server is bound, e.g. http://0.0.0.0:8000, or the socket's path: systemd's socket too. */
function boundAddress(address: AddressInfo | string | null, tls: boolean): string {
  if (address === null || typeof address === 'string') return address ?? '';
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
}

async function main(): Promise<void> {
  const subcommand = subcommandNamed(process.argv.slice(2));
  if (subcommand !== undefined) {
    process.exitCode = await (await subcommand.load()).run(process.argv.slice(3), process.env);
    return;
  }
  const request = parseCli(process.argv.slice(2), process.env);
  if (request.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (request.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  // Kept for SIGHUP: the file is read again; flags and environment cannot change meanwhile.
  const sources = { file: request.configFile, overrides: request.overrides };
  if (request.check) {
    const { runCheck, writeCheckReport } = await import('./commands/check.js');
    const report = await runCheck(sources);
    writeCheckReport(report, process.stdout, process.stderr);
    process.exitCode = report.exitCode;
    return;
  }
  // Loaded here, not at the top: subcommands and --help start without the server's modules.
  const { loadConfig } = await import('./config/load.js');
  const config = loadConfig(sources);
  if (request.healthcheck) {
    const { runHealthcheck } = await import('./commands/healthcheck.js');
    const result = await runHealthcheck(config);
    (result.ok ? process.stdout : process.stderr).write(`${result.message}\n`);
    process.exitCode = result.ok ? 0 : 1;
    return;
  }
  const [{ createLogger }, { buildGateway }] = await Promise.all([import('./logger.js'), import('./gateway.js')]);
  const logger = createLogger(config.log);
  const app = await buildGateway(config, { logger, processMetrics: true });

  let closing = false;
  let reloads = Promise.resolve();
  const reload = async (): Promise<void> => {
    const failed = (error: unknown): void => {
      const message = error instanceof Error ? error.message : String(error);
      logger.error({ err: { message, code: (error as GatewayError).code } }, 'reload failed: still serving the previous configuration');
    };
    let next: GatewayConfig;
    try {
      next = loadConfig(sources);
    } catch (error) {
      // reload() counts the failures it sees; a file that does not even parse is counted here.
      app.gateway.metrics.reloaded(false);
      failed(error);
      return;
    }
    try {
      const { restartNeeded } = await app.gateway.reload(next);
      logger.info(
        { users: next.access.users.size, ...(restartNeeded.length > 0 ? { restartNeeded } : {}) },
        restartNeeded.length > 0 ? 'configuration reloaded; changed keys that need a restart keep their old value' : 'configuration reloaded',
      );
    } catch (error) {
      failed(error);
    }
  };
  process.on('SIGHUP', () => {
    if (closing) return;
    logger.info({ signal: 'SIGHUP', config: sources.file }, 'reloading configuration');
    reloads = reloads.then(reload);
  });

  const stop = (signal: string): void => {
    if (closing) return;
    closing = true;
    const timeoutMs = app.gateway.config.server.shutdownTimeoutMs;
    logger.info({ signal, timeoutMs }, 'shutting down: no new connections, finishing calls in flight');
    // Last resort, should closing itself hang after the connections were cut.
    const force = setTimeout(() => {
      logger.error('shutdown did not complete; exiting anyway');
      process.exit(1);
    }, timeoutMs + 5000);
    force.unref();
    app.gateway.shutdown().then(
      (result) => {
        if (result === 'forced') logger.warn({ timeoutMs }, 'calls still in flight at server.shutdown_timeout were cut');
        else logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  // Fastify logs a "Server listening at" line of its own, one per interface and 127.0.0.1 first
  // when bound to 0.0.0.0; the gateway's one line below names the socket really bound instead.
  const fastifyLog = app.log;
  app.log = fastifyLog.child({}, { level: 'warn' });
  try {
    await app.gateway.listen();
  } finally {
    app.log = fastifyLog;
  }
  logger.info(
    { listen: boundAddress(app.server.address(), config.server.tls !== undefined), upstream: config.upstream.scgi.label, paths: config.server.paths, users: config.access.users.size },
    'rtorrent-gateway listening',
  );
}

main().catch((error: unknown) => {
  // One line, naming the key or file, so systemd's journal shows the fix at a glance.
  // System errors (a port in use, a directory missing) are explained by their message; only bugs need the stack.
  const isSystemError = typeof (error as NodeJS.ErrnoException | undefined)?.syscall === 'string';
  const message =
    error instanceof GatewayError || isSystemError ? (error as Error).message : error instanceof Error ? error.stack ?? error.message : String(error);
  process.stderr.write(`rtorrent-gateway: ${message}\n`);
  process.exit(isConfigProblem(error) ? EXIT_CONFIG : 1);
});
