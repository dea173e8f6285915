import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parseIdentityGrants } from '@kubeless/api';
import type { KubeClient } from '@kubeless/controller';
import { createLogger } from '@kubeless/observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connections, classifySqsError } from '../../src/index.js';
import { redactAws, safeEndpoint } from '../../src/errors.js';

const ROLE = 'arn:aws:sts::123456789012:assumed-role/kubeless-sqs/i-0abc';
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:orders';

describe('redactAws', () => {
  it('removes ARNs of any partition and 12-digit account ids, keeps the rest', () => {
    const text = `User: ${ROLE} is not authorized to perform: sqs:receivemessage on resource: ${QUEUE_ARN} (arn:aws-us-gov:iam::210987654321:role/x) request 9876543210987`;
    const out = redactAws(text);
    expect(out).not.toMatch(/arn:aws[a-z-]*:[a-z]/u);
    expect(out).not.toContain('123456789012');
    expect(out).not.toContain('210987654321');
    expect(out).not.toContain('kubeless-sqs');
    expect(out).toContain('is not authorized to perform: sqs:receivemessage');
    // 13 digits are not an account id.
    expect(out).toContain('9876543210987');
  });

  it('keeps a message id whose last UUID group is all digits (not an account id)', () => {
    const id = '2fc46e0e-17b8-4464-9ae2-831487109813';
    expect(redactAws(`message ${id} failed 3 times`)).toBe(`message ${id} failed 3 times`);
    expect(redactAws('queue https://sqs.us-east-1.amazonaws.com/123456789012/q')).toBe('queue https://sqs.us-east-1.amazonaws.com/<account>/q');
  });
});

describe('safeEndpoint', () => {
  it('drops userinfo, query string and fragment', () => {
    expect(safeEndpoint('https://key:secret@sqs.example.com:8443/base/?token=abc#x')).toBe('https://sqs.example.com:8443/base/');
    expect(safeEndpoint('http://elasticmq:9324')).toBe('http://elasticmq:9324');
    expect(safeEndpoint(undefined)).toBeUndefined();
    expect(safeEndpoint('not a url')).toBe('<invalid URL>');
  });
});

/** Logger lines written to memory. */
function memoryLogger(level: string): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger({ name: 'test', level, destination }), text: () => chunks.join('') };
}

describe('what SQS errors leave in messages (real SDK, real sockets)', () => {
  let server: http.Server;
  let endpoint = '';
  let answer: (res: http.ServerResponse) => void = () => undefined;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  });

  const call = async (): Promise<unknown> => {
    const client = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
    try {
      await client.send(new GetQueueUrlCommand({ QueueName: 'orders' }));
      return undefined;
    } catch (err) {
      return err;
    } finally {
      client.destroy();
    }
  };

  it("an AccessDenied names neither the controller's role nor the account in the message or a logged error", async () => {
    answer = (res) => {
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': 'AccessDenied;Sender' });
      res.end(JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message: `User: ${ROLE} is not authorized to perform: sqs:getqueueurl on resource: ${QUEUE_ARN}` }));
    };
    const raw = await call();
    const e = classifySqsError(raw, `queue https://sqs.us-east-1.amazonaws.com/123456789012/orders`);
    expect(e.reason).toBe('AccessDenied');
    expect(e.message).toContain('not authorized to perform: sqs:getqueueurl');
    expect(e.message).not.toContain('123456789012');
    expect(e.message).not.toContain('assumed-role');
    // A warn line with the error (as the supervisor logs a failed start) carries no ARN either.
    const log = memoryLogger('info');
    log.logger.warn({ err: e }, 'runner failed to start; retrying later');
    expect(log.text()).toContain('AccessDenied');
    expect(log.text()).not.toContain('123456789012');
    // The original stays available for a debug line.
    expect((e.raw as Error).message).toContain(ROLE);
  });

  it('an answer that is not SQS (an HTML page behind an endpoint) is described by its status, never quoted', async () => {
    answer = (res) => {
      res.writeHead(403, { 'content-type': 'text/html' });
      res.end('<html>internal admin console token=s3cr3t</html>');
    };
    const e = classifySqsError(await call(), 'queue orders');
    expect(e.reason).toBe('SqsError');
    expect(e.code).toBe('KUBELESS_SQS_ERROR');
    expect(e.message).toContain('HTTP 403');
    expect(e.message).not.toContain('<html');
    expect(e.message).not.toContain('s3cr3t');
  });
});

describe('Connections', () => {
  it('logs an endpoint without its userinfo or query string', async () => {
    const log = memoryLogger('debug');
    const c = new Connections({ client: {} as KubeClient, logger: log.logger, defaultCredentials: { accessKeyId: 'x', secretAccessKey: 'y' }, grants: parseIdentityGrants('') });
    await c.get('ns', { region: 'us-east-1', endpoint: 'https://key:hunter2@sqs.internal:8443/?X-Token=abc', credentials: 'shared' });
    c.close();
    expect(log.text()).toContain('sqs client created');
    expect(log.text()).toContain('sqs.internal:8443');
    expect(log.text()).not.toContain('hunter2');
    expect(log.text()).not.toContain('X-Token');
  });
});
