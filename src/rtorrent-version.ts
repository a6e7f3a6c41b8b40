/**
 * rtorrent release numbers ("0.9.8", "0.16.20"), compared numerically. Shared by the policies
 * (which release accepts a call untrusted) and the upstream (which release answers).
 */

/** The parts of a release number, or undefined for anything else (a fork's "0.9.8-r16" keeps its numeric head). */
export function parseVersion(text: string): number[] | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  return match === null ? undefined : [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Negative, zero or positive as `a` is older than, the same as or newer than `b`; both must parse. */
export function compareVersions(a: string, b: string): number {
  const left = parseVersion(a);
  const right = parseVersion(b);
  if (left === undefined || right === undefined) throw new RangeError(`not an rtorrent release: ${left === undefined ? a : b}`);
  for (let i = 0; i < 3; i++) {
    const difference = (left[i] as number) - (right[i] as number);
    if (difference !== 0) return difference;
  }
  return 0;
}
