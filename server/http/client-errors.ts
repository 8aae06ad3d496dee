import { type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError, serverIssues } from '../../shared/errors.ts';

/** Node's parser errors that have an answer of their own; any other malformed request is a 400. */
const ANSWERS: Record<string, { status: number; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    message: 'The request line or its headers are too long; send large input in a POST body',
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive' },
};

/**
 * Requests Node refuses before any handler sees them (a query string past the 16 KB header limit, bytes
 * that are not HTTP) are answered as every other bad input is: a JSON error in tRPC's shape with
 * `appCode` VALIDATION and the status Node would have sent, where Node sends a bare status line. A
 * typed client then reads a VALIDATION error, not an unexplained 431.
 */
export function answerMalformedRequests(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, message } = ANSWERS[error.code ?? ''] ?? {
      status: 400,
      message: 'The request is not valid HTTP',
    };
    const body = JSON.stringify({
      error: {
        json: {
          message,
          code: -32600,
          data: {
            code: 'BAD_REQUEST',
            httpStatus: status,
            appCode: 'VALIDATION',
            reason: 'MALFORMED_REQUEST',
            zodIssues: serverIssues(new AppError('VALIDATION', message)),
          },
        },
      },
    });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
