import { performance } from 'node:perf_hooks';
import { GatewayError } from '../errors.js';
import type { ScgiResponse } from '../upstream/scgi-client.js';
import { Upstream } from '../upstream/upstream.js';
import type { GatewayMetrics } from './metrics.js';

function codeOf(error: unknown): string {
  return error instanceof GatewayError ? error.code : 'GW_UPSTREAM_OTHER';
}

/**
 * The Upstream, timed: latency and failures are observed where the call happens, so the route
 * that uses it (and the health check) need not know metrics exist.
 */
export class MeteredUpstream extends Upstream {
  readonly #metrics: GatewayMetrics;

  readonly name: string;

  constructor(
    name: string,
    address: ConstructorParameters<typeof Upstream>[0],
    options: ConstructorParameters<typeof Upstream>[1],
    metrics: GatewayMetrics,
  ) {
    super(address, options);
    this.name = name;
    this.#metrics = metrics;
    metrics.watchUpstream(name, this);
  }

  override async call(...args: Parameters<Upstream['call']>): Promise<ScgiResponse> {
    const started = performance.now();
    let response: ScgiResponse;
    try {
      response = await super.call(...args);
    } catch (error) {
      // A client that left is no upstream error, before the answer as after it.
      if (codeOf(error) !== 'GW_CLIENT_CLOSED') this.#metrics.upstreamFailed(this.name, codeOf(error));
      throw error;
    }
    if (response.kind === 'whole') {
      this.#metrics.upstreamAnswered(this.name, (performance.now() - started) / 1000);
      return response;
    }
    response.body.onSettled((error) => {
      // A client that hangs up early is neither a latency nor an upstream error.
      if (error === undefined) this.#metrics.upstreamAnswered(this.name, (performance.now() - started) / 1000);
      else if (error.code !== 'GW_CLIENT_CLOSED') this.#metrics.upstreamFailed(this.name, error.code);
    });
    return response;
  }
}
