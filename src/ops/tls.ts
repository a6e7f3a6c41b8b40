import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../errors.js';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

async function readPem(file: string, key: 'server.tls.cert' | 'server.tls.key'): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied (the gateway user must be able to read it)' : (error as Error).message;
    throw new ConfigError(`${key}: cannot read ${file}: ${reason}`, { cause: error });
  }
}

/**
 * Reads the certificate chain and key and checks they belong together, so a half-renewed pair
 * (certbot wrote the cert, not yet the key) fails the reload instead of every later handshake.
 */
export async function loadTls(files: { readonly cert: string; readonly key: string }): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([readPem(files.cert, 'server.tls.cert'), readPem(files.key, 'server.tls.key')]);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new ConfigError(
      `server.tls: ${files.cert} and ${files.key} are not a usable certificate and matching private key (PEM): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { cert, key };
}
