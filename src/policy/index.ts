/**
 * Method policies: which rtorrent commands a user may run, checked on the parsed request before it is
 * re-encoded and forwarded. Nothing here knows about HTTP.
 */
export type { CompiledPolicy, PolicyDefinition, PolicyVerdict } from './types.js';
export { BUILTIN_POLICY_NAMES, compilePolicies } from './compile.js';
