import { readFile } from 'node:fs/promises';
import { HtpasswdError } from '../errors.js';

/** Reads an Apache credential file, naming it in the error a user sees when it cannot be read. */
export async function readCredentialFile(file: string, kind: 'htpasswd' | 'htdigest'): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Node appends ", open '<path>'"; the path is already at the front of our message.
    const reason = (e.message ?? String(err)).replace(/, \w+ '.*'$/, '');
    throw new HtpasswdError(`cannot read ${kind} file ${file}: ${reason}`, { cause: err });
  }
}

/** The entry lines of an Apache credential file, numbered as an editor shows them. */
export function credentialLines(text: string): Array<{ readonly lineNo: number; readonly line: string }> {
  const entries: Array<{ lineNo: number; line: string }> = [];
  // Editors on Windows add a BOM; it would otherwise become part of the first user name.
  text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .forEach((raw, index) => {
      // Apache trims surrounding whitespace too, which also drops the CR of CRLF files.
      const line = raw.trim();
      if (line !== '' && !line.startsWith('#')) entries.push({ lineNo: index + 1, line });
    });
  return entries;
}
