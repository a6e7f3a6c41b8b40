import type { RequestOutcome } from '../request-summary.js';

/** What the gateway learns about a request on its way through, for the one log line it ends with. */
export interface RequestState {
  user: string | undefined;
  policy: string | undefined;
  methods: readonly string[];
  outcome: RequestOutcome;
  /** Why a call was refused, for the warn line. */
  denial: string | undefined;
  /** Which budget a call was refused for (in_flight, rate). */
  budget?: string;
  bytesIn: number;
  /** Body bytes sent to the client: after compression, when the answer was compressed. */
  bytesOut: number;
  /** The Content-Encoding the answer went out with, when the gateway compressed it. */
  encoding?: string;
  /** The Digest nonce had expired: the 401 says stale=true so the client retries without asking the user. */
  digestStale?: boolean;
  /** The request's one log line has been written. */
  logged?: boolean;
}

export function newRequestState(): RequestState {
  return {
    user: undefined,
    policy: undefined,
    methods: [],
    outcome: 'unknown',
    denial: undefined,
    bytesIn: 0,
    bytesOut: 0,
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    gateway: RequestState;
  }
}
