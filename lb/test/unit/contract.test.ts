import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codeForStatus, LbError, notOnReplicas, pathOf, toFailure } from '../../src/contract/errors.js';

describe('the error contract', () => {
  it('writes the contract texts word for word, with their statuses', () => {
    assert.deepEqual(toFailure(new LbError('HOSTNAMES_OVER_ADDED')), {
      status: 400,
      body: { message: '<Error> Length of hostname list is more than newly added instances', status: 'failure' },
    });
    assert.deepEqual(
      toFailure(new LbError('HOSTNAMES_OVER_REMOVABLE')).body.message,
      '<Error> Length of hostname list is more than removable instances',
    );
    assert.deepEqual(toFailure(new LbError('NO_REPLICA')), {
      status: 503,
      body: { message: '<Error> No server replica is available', status: 'failure' },
    });
    assert.deepEqual(toFailure(notOnReplicas('/other?x=1')), {
      status: 400,
      body: { message: "<Error> '/other' endpoint does not exist in server replicas", status: 'failure' },
    });
  });

  it('gives each code its status and the detail after the prefix', () => {
    const cases: [LbError, number][] = [
      [new LbError('BAD_REQUEST', 'n must be at least 1 (got 0)'), 400],
      [new LbError('UNAUTHORIZED'), 401],
      [new LbError('NOT_ON_LB', "'/dashboard/x' does not exist on the load balancer"), 404],
      [new LbError('METHOD_NOT_ALLOWED', 'x'), 405],
      [new LbError('START_FAILED', 'x'), 500],
      [new LbError('REPLICA_FAILED', 'Replica S1 failed: ECONNREFUSED'), 502],
    ];
    for (const [error, status] of cases) {
      const { status: got, body } = toFailure(error);
      assert.equal(got, status, error.code);
      assert.equal(body.message, `<Error> ${error.detail}`);
      assert.equal(body.status, 'failure');
    }
  });

  it('turns anything else into an internal error without leaking its message', () => {
    assert.deepEqual(toFailure(new Error('secret path /etc/x')), {
      status: 500,
      body: { message: '<Error> Internal error in the load balancer', status: 'failure' },
    });
  });

  it('maps a framework status to a code of that status (400 when none fits)', () => {
    assert.equal(codeForStatus(413), 'BODY_TOO_LARGE');
    assert.equal(codeForStatus(415), 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal(codeForStatus(404), 'NOT_ON_LB');
    assert.equal(codeForStatus(418), 'BAD_REQUEST');
    assert.equal(codeForStatus(500), 'INTERNAL');
  });

  it('paths lose their query', () => {
    assert.equal(pathOf('/a/b?c=1?d'), '/a/b');
    assert.equal(pathOf('/a'), '/a');
  });
});
