import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { answerClientErrors } from '@filekeep/express';

function get(port: number, headers: Record<string, string>): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
      })
      .on('error', reject);
  });
}

describe('answerClientErrors()', () => {
  it('answers headers over the limit with a 431 problem document', async () => {
    const server = express().listen(0, '127.0.0.1');
    answerClientErrors(server);
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const res = await get((server.address() as AddressInfo).port, { 'x-big': 'a'.repeat(70_000) });
      expect(res.status).toBe(431);
      expect(res.type).toBe('application/problem+json');
      expect(JSON.parse(res.body)).toMatchObject({ status: 431, title: 'Request Header Fields Too Large' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
