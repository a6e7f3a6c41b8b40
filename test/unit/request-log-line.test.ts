/** One finished request, one line: the level and words are the same whichever transport carried it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestLogEntry } from '../../src/request-log-line.js';
import type { RequestOutcome, RequestSummary } from '../../src/request-summary.js';

function summary(outcome: RequestOutcome, status: number, transport: 'http' | 'scgi' = 'http'): RequestSummary {
  return {
    transport,
    remote: '127.0.0.1',
    method: 'POST',
    path: '/RPC2',
    user: 'alice',
    authenticated: true,
    policy: 'standard',
    methods: ['d.name'],
    outcome,
    status,
    bytesIn: 100,
    bytesOut: 10,
    encoding: undefined,
    ms: 1,
    denial: 'why',
    budget: undefined,
  };
}

describe('a request\'s log line', () => {
  const cases: Array<[RequestOutcome, number, string, string]> = [
    ['relayed', 200, 'info', 'request'],
    ['denied', 200, 'warn', 'call denied'],
    ['too_costly', 200, 'warn', 'call over a limit'],
    ['over_budget', 429, 'warn', 'call over a limit'],
    ['invalid', 200, 'warn', 'request refused'],
    ['bad_scgi', 400, 'warn', 'request refused'],
    ['client_gone', 200, 'info', 'client went away before the answer was complete'],
    ['upstream_truncated', 200, 'error', 'request failed'],
    ['GW_UPSTREAM_UNREACHABLE', 502, 'error', 'request failed'],
    ['healthy', 200, 'debug', 'request'],
  ];
  for (const [outcome, status, level, message] of cases) {
    it(`is ${level} "${message}" for ${outcome}, over HTTP and an SCGI listener alike`, () => {
      for (const transport of ['http', 'scgi'] as const) {
        const entry = requestLogEntry(summary(outcome, status, transport), { audited: false });
        assert.deepEqual([entry.level, entry.message, entry.fields.transport], [level, message, transport]);
      }
    });
  }

  it('asks for credentials at debug, and reports a wrong password at warn', () => {
    assert.equal(requestLogEntry(summary('unauthenticated', 401), { audited: false, challenge: true }).level, 'debug');
    assert.equal(requestLogEntry(summary('unauthenticated', 401), { audited: false }).message, 'authentication failed');
  });

  it('marks an audit record and keeps a transport\'s own fields', () => {
    const entry = requestLogEntry(summary('denied', 200, 'scgi'), { audited: true, extra: { trailingBytes: 3 } });
    assert.equal(entry.fields.audit, true);
    assert.equal(entry.fields.trailingBytes, 3);
    assert.equal(entry.fields.denial, 'why');
  });
});
