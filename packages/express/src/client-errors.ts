import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Answer requests that Node's HTTP parser rejects before Express sees them (headers over the
 * limit: 431; malformed request lines: 400) with a problem document instead of Node's bare
 * status line, so every error a client gets from the app is `application/problem+json`.
 *
 * @example
 * answerClientErrors(app.listen(3000));
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset or timed-out connection has no one to answer.
    if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status], status, detail: 'The request could not be parsed.' });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
