/** Who may call which rtorrent under which policy: built from [access.users] (ops/runtime.ts), read by each request. */
export interface AccessTable {
  /** Policy name for each user allowed in; a user missing here is authenticated but refused (403). */
  policyOf(user: string): string | undefined;
  /** The upstream a user is bound to, if any. */
  upstreamOf(user: string): string | undefined;
}
