import type { ServerResponse } from 'node:http';
import type { AnyTRPCRouter } from '@trpc/server';
import { incomingMessageToRequest, internal_exceptionHandler } from '@trpc/server/adapters/node-http';
import { type HTTPErrorHandler, resolveResponse, type TRPCRequestInfo } from '@trpc/server/http';
import type { Request, RequestHandler, Response } from 'express';

export interface TrpcHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  createContext: (opts: { req: Request; res: Response; info: TRPCRequestInfo }) => Promise<object>;
  maxBodySize: number;
  maxBatchSize: number;
  onError?: HTTPErrorHandler<TRouter, Request>;
}

/**
 * tRPC's express adapter, with one difference: a whole JSON answer (a call's, a batch's or an error's)
 * goes out in one write with its `Content-Length`. The stock adapter pipes every answer through a web
 * `WritableStream` with chunked encoding: a stream pipe and two socket writes (the body, then the
 * chunked terminator) per answer, about 0.1 ms of the main thread per call in bench/pipeline. Streams
 * (`jobs.watch`'s server-sent events, JSON lines for a client that asks for them) are written as they
 * come, as the stock adapter does. Requests are read by tRPC's own `incomingMessageToRequest` and
 * answered by its `resolveResponse`, so everything between (batching, errors, the abort signal) is tRPC's.
 */
export function trpcHandler<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
): RequestHandler {
  return (req, res) => {
    const path = req.path.slice(req.path.lastIndexOf('/') + 1);
    const handle = async () => {
      const request = incomingMessageToRequest(req, res, { maxBodySize: opts.maxBodySize });
      const response = await resolveResponse<TRouter>({
        router: opts.router,
        req: request,
        path,
        error: null,
        maxBatchSize: opts.maxBatchSize,
        createContext: ({ info }) => opts.createContext({ req, res, info }) as never,
        onError: (o) => opts.onError?.({ ...o, req }),
      });
      await writeResponse(response, res, request.signal);
    };
    handle().catch(internal_exceptionHandler({ ...opts, req, res, path } as never));
  };
}

/** Event streams being written now, in this process (`jobs.watch`). */
const eventStreams = new Set<ServerResponse>();

/**
 * Cuts every open event stream (at shutdown): the clients reconnect at once, with the last event id they
 * saw, to a process that stays, instead of holding this one until the stop's grace period ends. A
 * stream ended cleanly would read to tRPC's client as the subscription's end; a cut one is retried.
 */
export function cutEventStreams(): number {
  const count = eventStreams.size;
  for (const res of eventStreams) res.destroy();
  eventStreams.clear();
  return count;
}

async function writeResponse(response: globalThis.Response, res: ServerResponse, signal: AbortSignal) {
  if (res.statusCode === 200) res.statusCode = response.status;
  for (const [key, value] of response.headers) {
    if (key !== 'set-cookie') res.setHeader(key, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (!response.body) {
    res.end();
    return;
  }
  // tRPC marks what it streams: event streams, JSON lines (`transfer-encoding: chunked`), other bodies.
  const type = response.headers.get('content-type') ?? '';
  if (type.startsWith('application/json') && !response.headers.has('transfer-encoding')) {
    const body = Buffer.from(await response.arrayBuffer());
    res.setHeader('content-length', body.length);
    res.end(body);
    return;
  }
  // A stream: each chunk as it comes, waiting for the socket when it is full; the client going away
  // (the request's signal) ends it.
  if (type.startsWith('text/event-stream')) {
    eventStreams.add(res);
    res.once('close', () => eventStreams.delete(res));
  }
  try {
    for await (const chunk of streamOf(response.body, signal)) {
      if (!res.write(chunk)) await drained(res);
    }
  } finally {
    res.end();
  }
}

async function* streamOf(body: ReadableStream<Uint8Array>, signal: AbortSignal) {
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  if (signal.aborted) cancel(); // gone before the answer began
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || signal.aborted) return;
      yield value;
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener('abort', cancel);
    reader.releaseLock();
  }
}

const drained = (res: ServerResponse) =>
  new Promise<void>((resolve, reject) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      res.off('error', fail);
      resolve();
    };
    const fail = (error: Error) => {
      done();
      reject(error);
    };
    res.once('drain', done);
    res.once('close', done);
    res.once('error', fail);
  });
