/**
 * What one finished call amounts to, whichever transport carried it: the log line, and what the
 * metrics and the audit log read.
 */
export interface RequestSummary {
  /** How the call came: HTTP, or an SCGI listener (where the socket is the login). */
  readonly transport: 'http' | 'scgi';
  /** Client address; "unix" for a Unix-socket peer when no proxy address is trusted; the listener's address for SCGI. */
  readonly remote: string;
  readonly method: string;
  readonly path: string;
  /** The user name the client sent, whether or not the password was right. */
  readonly user: string | undefined;
  /** True once the password was verified: only then is `user` more than a claim. */
  readonly authenticated: boolean;
  readonly policy: string | undefined;
  readonly methods: readonly string[];
  readonly outcome: string;
  readonly status: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** "gzip" or "br" when the gateway compressed the answer: bytesOut are compressed bytes then. */
  readonly encoding: string | undefined;
  readonly ms: number;
  readonly denial: string | undefined;
  /** For over_budget: which budget (in_flight, rate). */
  readonly budget: string | undefined;
}
