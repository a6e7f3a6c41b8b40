#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { loadConfig } from './config/load.js';
import { GatewayError } from './errors.js';
import { buildGateway } from './gateway.js';
import { parseCli, USAGE } from './cli-args.js';
import { createLogger } from './logger.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(): Promise<void> {
  const request = parseCli(process.argv.slice(2), process.env);
  if (request.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (request.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const config = loadConfig({ file: request.configFile, overrides: request.overrides });
  const logger = createLogger(config.log);
  const app = await buildGateway(config, { logger });
  if (request.check) {
    await app.close();
    process.stdout.write('configuration OK\n');
    return;
  }

  const listen = config.server.listen;
  const address =
    listen.kind === 'unix'
      ? await app.listen({ path: listen.path })
      : await app.listen({ host: listen.host, port: listen.port });
  logger.info(
    { listen: address, upstream: config.upstream.scgi.label, paths: config.server.paths, users: config.access.users.size },
    'rtorrent-gateway listening',
  );

  let closing = false;
  const stop = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing calls in flight');
    const force = setTimeout(() => {
      logger.warn('calls still in flight after 10 s; exiting anyway');
      process.exit(0);
    }, 10_000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  // One line, naming the key or file, so systemd's journal shows the fix at a glance.
  const message = error instanceof GatewayError ? error.message : error instanceof Error ? error.stack ?? error.message : String(error);
  process.stderr.write(`rtorrent-gateway: ${message}\n`);
  const isConfigProblem = error instanceof GatewayError && (error.code === 'GW_CONFIG_INVALID' || error.code === 'GW_HTPASSWD_INVALID');
  // 78 is EX_CONFIG: the unit file tells systemd not to restart-loop on it.
  process.exit(isConfigProblem ? 78 : 1);
});
