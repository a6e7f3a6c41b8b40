/**
 * Subcommands: `rtorrent-gateway NAME …`. Each runs to completion and returns its exit code; the
 * gateway itself is what runs when no subcommand is named. Loaded on demand, so starting the
 * gateway pays for none of them.
 */
export interface Subcommand {
  readonly run: (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number>;
}

type SubcommandLoader = () => Promise<Subcommand>;

export const SUBCOMMANDS: ReadonlyMap<string, SubcommandLoader> = new Map<string, SubcommandLoader>([
  ['passwd', async () => (await import('./passwd.js')).passwd],
  ['reload', async () => (await import('./reload.js')).reload],
  ['explain', async () => (await import('./explain.js')).explainCommand],
  ['policies', async () => (await import('./policies.js')).policiesCommand],
]);

export function subcommandNamed(argv: readonly string[]): { name: string; load: SubcommandLoader } | undefined {
  const name = argv[0];
  if (name === undefined || name.startsWith('-')) return undefined;
  const load = SUBCOMMANDS.get(name);
  return load === undefined ? undefined : { name, load };
}
