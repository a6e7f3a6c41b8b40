import { startFakeScgi, type FakeScgiHandler, type FakeScgiServer } from './fake-scgi.js';
import { startGateway, type GatewayTestInstance, type GatewayTestOptions } from './gateway.js';

export interface FakePeerStack {
  /** The peer behind the gateway of the last start(), with the requests it recorded. */
  readonly fake: FakeScgiServer | undefined;
  /** A fresh peer answering with `handler`, and a fresh gateway in front of it; the previous pair is closed. */
  start(handler: FakeScgiHandler): Promise<GatewayTestInstance>;
  close(): Promise<void>;
}

/** A gateway in front of a fake SCGI peer, for faults a real rtorrent cannot be made to show: one peer behaviour per test. */
export function fakePeerStack(options: Omit<GatewayTestOptions, 'upstream'> = {}): FakePeerStack {
  let fake: FakeScgiServer | undefined;
  let gateway: GatewayTestInstance | undefined;
  const close = async (): Promise<void> => {
    await gateway?.close();
    await fake?.close();
    gateway = undefined;
    fake = undefined;
  };
  return {
    get fake() {
      return fake;
    },
    async start(handler) {
      await close();
      fake = await startFakeScgi(handler);
      gateway = await startGateway({ ...options, upstream: `unix:${fake.socketPath}` });
      return gateway;
    },
    close,
  };
}
