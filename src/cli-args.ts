import { parseArgs } from 'node:util';
import { ConfigError } from './errors.js';
import { ENV_PREFIX, OVERRIDABLE_KEYS } from './config/keys.js';
import { overridesFromEnv, type Override } from './config/overrides.js';

export interface CliRequest {
  readonly help: boolean;
  readonly version: boolean;
  /** Validate the configuration and exit, for ExecReload= and CI. */
  readonly check: boolean;
  /** Ask the running gateway's /healthz and exit 0 or 1, for Docker's HEALTHCHECK. */
  readonly healthcheck: boolean;
  readonly configFile: string | undefined;
  readonly overrides: Override[];
}

export const USAGE = `Usage: rtorrent-gateway [--config FILE] [options]

An authenticating XML-RPC gateway for rtorrent: HTTP POST /RPC2 in, SCGI to rtorrent out.

Options (each also settable as [section] key in the TOML file and as ${ENV_PREFIX}SECTION_KEY):
  --config FILE          TOML config file (env ${ENV_PREFIX}CONFIG)
  --listen ADDR          server.listen: host:port or unix:/path (default 127.0.0.1:8000)
  --paths LIST           server.paths: comma-separated URL paths (default /RPC2,/scgi)
  --body-limit SIZE      server.body_limit (default 16MiB)
  --hosts LIST           server.hosts: host names clients may use besides IP addresses and localhost
  --allowed-origins LIST server.allowed_origins: browser origins allowed to call (default none)
  --upstream ADDR        upstream.scgi: unix:/path/to/scgi.socket or tcp://host:port
  --timeout DURATION     upstream.timeout (default 60s)
  --max-connections N    upstream.max_connections: connections held to rtorrent (default 16)
  --max-queue N          upstream.max_queue: calls waiting for a connection (default 512)
  --htpasswd FILE        auth.htpasswd: Apache htpasswd file (bcrypt, apr1 or {SHA})
  --realm NAME           auth.realm (default rtorrent)
  --user USER=POLICY     access.users entry; repeatable (policies: full, standard, readonly, …)
  --socket-mode MODE     server.socket_mode for a unix: listen socket, e.g. 0660
  --socket-group GROUP   server.socket_group for a unix: listen socket
  --tls-cert FILE        server.tls.cert: PEM certificate chain (HTTPS; re-read on SIGHUP)
  --tls-key FILE         server.tls.key: PEM private key
  --audit-file FILE      audit.file: JSON-lines audit trail (denials, calls by full users)
  --log-level LEVEL      log.level: fatal|error|warn|info|debug|trace|silent (default info)
  --log-format FORMAT    log.format: json (default) or text (one readable line per call)
  --pretty               log.pretty: deprecated, the same as --log-format text
  --check                validate the configuration and the htpasswd file, then exit
  --healthcheck          ask the running gateway's /healthz; exit 0 if rtorrent answers (Docker HEALTHCHECK)
  --help, --version
Every key of the file can be given by its dotted name or as a variable, these and the rest alike:
--upstream.read_cache_ttl 1s, --server.compress=false, ${ENV_PREFIX}LIMITS_CALL_RATE=5. Tables ([upstreams.NAME],
[policies.NAME], [[scgi.listeners]]) are written in the file only.

Subcommands:
  passwd USER            add USER to the htpasswd file or change their password (see passwd --help)
  reload --pid PID       check the configuration, then send SIGHUP to the gateway PID (see reload --help)
  explain CALL           judge CALL (a file or -) for --user USER offline and say why (see explain --help)
  policies [NAME]        list the policies, or show what NAME allows, refuses and confines

Signals: SIGHUP reloads the config, htpasswd and TLS files (a bad one is logged and the old one
kept); SIGTERM finishes the calls in flight (server.shutdown_timeout) and exits 0.
`;

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliRequest {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
    check: { type: 'boolean' },
    healthcheck: { type: 'boolean' },
  };
  for (const leaf of OVERRIDABLE_KEYS) {
    const type = leaf.kind === 'boolean' ? 'boolean' : 'string';
    const multiple = leaf.kind === 'users' || leaf.kind === 'list';
    options[leaf.path.join('.')] = { type, multiple };
    if (leaf.flag) options[leaf.flag] = { type, multiple };
  }
  // A boolean key given a value (--metrics.public=false): Node's parser takes none, so these are
  // read here; a bare --metrics.public is true.
  const booleans = new Map(OVERRIDABLE_KEYS.filter((leaf) => leaf.kind === 'boolean').flatMap((leaf) => [[leaf.dotted, leaf], ...(leaf.flag ? [[leaf.flag, leaf] as const] : [])]));
  const valued: Override[] = [];
  const args = argv.filter((arg) => {
    const match = /^--([^=]+)=(.*)$/s.exec(arg);
    const leaf = match === null ? undefined : booleans.get(match[1] as string);
    if (leaf === undefined || match === null) return true;
    valued.push({ leaf, raw: match[2] as string, source: `flag --${match[1] as string}` });
    return false;
  });
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError(`command line: ${(error as Error).message}; see --help`);
  }

  const overrides = overridesFromEnv(env);
  for (const leaf of OVERRIDABLE_KEYS) {
    for (const name of [leaf.path.join('.'), leaf.flag]) {
      if (name === undefined) continue;
      const raw = values[name];
      if (raw === undefined) continue;
      overrides.push({ leaf, raw: raw as string | boolean | string[], source: `flag --${name}` });
    }
  }
  overrides.push(...valued);
  return {
    help: values.help === true,
    version: values.version === true,
    check: values.check === true,
    healthcheck: values.healthcheck === true,
    // Empty (RTORRENT_GATEWAY_CONFIG= in a container): no file, flags and variables only.
    configFile: ((values.config as string | undefined) ?? env[`${ENV_PREFIX}CONFIG`]) || undefined,
    overrides,
  };
}
