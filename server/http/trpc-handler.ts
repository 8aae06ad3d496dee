import type { ServerResponse } from 'node:http';
import {
  type AnyTRPCProcedure,
  type AnyTRPCRouter,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  TRPCError,
  transformTRPCResponse,
} from '@trpc/server';
import { incomingMessageToRequest } from '@trpc/server/adapters/node-http';
import {
  getHTTPStatusCode,
  getHTTPStatusCodeFromError,
  type HTTPErrorHandler,
  resolveResponse,
  type TRPCRequestInfo,
} from '@trpc/server/http';
import type { Request, RequestHandler, Response } from 'express';

export interface TrpcHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  createContext: (opts: { req: Request; res: Response; info: TRPCRequestInfo }) => Promise<object>;
  maxBodySize: number;
  maxBatchSize: number;
  onError?: HTTPErrorHandler<TRouter, Request>;
  /** One query or mutation answered here, not through a fetch Request and Response (default true). */
  singleCalls?: boolean;
}

/**
 * tRPC's express adapter, with two differences:
 * - a single query or mutation, the usual request, is answered by `answerSingleCall` with tRPC's own
 *   parts (the procedure, the error formatter, the transformer) but no fetch `Request` or `Response`:
 *   a dry `ai.generateImage` cost 0.8 ms of the main thread through them and 0.55 ms this way in
 *   bench/pipeline. Everything else (batches, subscriptions, JSON lines, unknown paths, a body of no
 *   stated length) is answered by tRPC's `resolveResponse`, with the body read here first (bounded,
 *   and ended when the client goes away: tRPC's own reader would wait for the rest for good);
 * - a whole JSON answer goes out in one write with its `Content-Length`. The stock adapter pipes every
 *   answer through a web `WritableStream` with chunked encoding: a stream pipe and two socket writes
 *   per answer, about 0.1 ms of the main thread per call. Streams (`jobs.watch`'s server-sent events,
 *   JSON lines for a client that asks for them) are written as they come, as the stock adapter does.
 */
export function trpcHandler<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
): RequestHandler {
  return (req, res) => {
    // `/trpc/<procedure>` or `/trpc/<a>,<b>` only. tRPC's adapter takes the last segment of any path, so
    // `/trpc/anything/admin.users.list` ran admin.users.list: a proxy rule on the path, or the request
    // log, would see another procedure than the one that ran.
    if (req.path.lastIndexOf('/') > 0) {
      answerFailure(
        opts,
        req,
        res,
        new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${req.path.slice(1)}"` }),
      );
      return;
    }
    const path = req.path.slice(1);
    const handle = async () => {
      const single = opts.singleCalls === false ? null : singleCallOf(opts, req, path);
      if (single) {
        await answerSingleCall(opts, req, res, single);
        return;
      }
      // The body is read here, bounded, and handed to tRPC as text: tRPC's own reader never hears of a
      // client that closes before the body's end, and its request would wait for it for good.
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        (req as { body?: unknown }).body = await readBody(req, opts.maxBodySize);
      }
      const request = requestOf(req, res, opts.maxBodySize);
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
    handle().catch((cause: unknown) => answerFailure(opts, req, res, cause));
  };
}

/**
 * What tRPC's adapter answers when a request fails outside any procedure (its body over the limit or cut
 * off, a Host it cannot read): the error in the router's shape, through `onError`, with its status, and,
 * unlike the adapter, with its content type. A stream already under way is ended instead.
 */
function answerFailure<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
  req: Request,
  res: Response,
  cause: unknown,
) {
  const error = getTRPCErrorFromUnknown(cause);
  const failure = { error, type: 'unknown', path: undefined, input: undefined, ctx: undefined } as const;
  opts.onError?.({ ...failure, req });
  if (res.headersSent) {
    res.end();
    return;
  }
  const config = opts.router._def._config;
  const json = JSON.stringify(
    transformTRPCResponse(config, { error: getTRPCErrorShape({ config, ...failure }) }),
  );
  res.statusCode = getHTTPStatusCodeFromError(error);
  endJson(res, json);
}

/**
 * Ends the answer with a whole JSON body and its length. A string, so Node sends it in the same write as
 * the headers (a Buffer goes out as a second one).
 */
function endJson(res: ServerResponse, json: string) {
  res.setHeader('content-type', 'application/json');
  // The database (or a service the call needs) not answering: worth asking again shortly.
  if (res.statusCode === 503) res.setHeader('retry-after', '5');
  res.setHeader('content-length', Buffer.byteLength(json));
  res.end(json);
}

interface SingleCall {
  path: string;
  procedure: AnyTRPCProcedure;
  type: 'query' | 'mutation';
  /** A batch of one (`?batch=1`, as tRPC's batch link sends a lone query): input and answer in a list. */
  batch: boolean;
  /** The `input` search parameter of a GET. */
  query: string | null;
}

/**
 * A request that is one query (GET) or one mutation (POST), alone or as a batch of one, of a procedure
 * that exists, with a JSON body of a stated length within the limit; null for anything else (batches of
 * several, streams, subscriptions, unknown paths, the wrong method, a chunked or oversized body,
 * `connectionParams`), which tRPC's `resolveResponse` answers.
 */
function singleCallOf<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
  req: Request,
  path: string,
): SingleCall | null {
  if (path.includes('%') || path.includes(',')) return null;
  const procedure = (opts.router._def.procedures as Record<string, AnyTRPCProcedure | undefined>)[path];
  const type = procedure?._def.type;
  if (!procedure || !(type === 'query' || type === 'mutation')) return null;
  if (req.method !== (type === 'query' ? 'GET' : 'POST')) return null;
  const headers = req.headers;
  if (headers['trpc-accept'] !== undefined || headers.accept?.includes('application/jsonl')) return null;
  const mediaType = headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase();
  if (type === 'mutation') {
    const length = Number(headers['content-length']);
    if (mediaType !== 'application/json' || !(length <= opts.maxBodySize)) return null;
  } else if (mediaType !== undefined && mediaType !== 'application/json') return null;
  // The query, without a fragment (a raw client may send one; a URL parser drops it).
  const target = req.url.split('#', 1)[0]!;
  const mark = target.indexOf('?');
  if (mark < 0) return { path, procedure, type, batch: false, query: null };
  const search = new URLSearchParams(target.slice(mark + 1));
  if (search.has('connectionParams')) return null;
  return { path, procedure, type, batch: search.get('batch') === '1', query: search.get('input') };
}

/**
 * Answers one query or mutation as tRPC's `resolveResponse` does (the context, the procedure reading its
 * input when it asks for it, the error's shape and HTTP status from the router's formatter, the
 * transformer, `onError`), in one write, without what that costs per call: a fetch `Request` and its
 * `Headers`, the body as a web stream, three `AbortSignal`s combined, a `Response`. The abort signal
 * fires when the client goes away before the answer, as the adapter's does.
 */
async function answerSingleCall<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
  req: Request,
  res: Response,
  call: SingleCall,
) {
  const { path, procedure, type, batch } = call;
  const config = opts.router._def._config;
  // A mutation's body is read from now on, while the context is made, as tRPC's request does: a
  // client that closes meanwhile ends the read, and nothing waits for a body that will never come.
  const body = type === 'mutation' ? readBody(req, opts.maxBodySize) : null;
  body?.catch(() => {}); // a procedure that never asks for its input never hears of the failure
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableEnded) abort.abort();
  });
  let input: unknown;
  let reading: Promise<unknown> | null = null;
  // Read once, when the procedure asks, with tRPC's errors: its own as they are, any other as BAD_REQUEST.
  const getRawInput = () => {
    reading ??= inputOf(call, body, config.transformer.input.deserialize).then(
      (value) => {
        input = value;
        return value;
      },
      (cause: unknown) => {
        throw cause instanceof TRPCError
          ? cause
          : new TRPCError({
              code: 'BAD_REQUEST',
              message: cause instanceof Error ? cause.message : 'Invalid input',
              cause,
            });
      },
    );
    return reading;
  };
  const info: TRPCRequestInfo = {
    accept: null,
    type,
    isBatchCall: batch,
    calls: [{ path, procedure, batchIndex: 0, getRawInput, result: () => input }],
    connectionParams: null,
    signal: abort.signal,
    url: null,
  };
  let ctx: object | undefined;
  let answer: { result: { data: unknown } } | { error: ReturnType<typeof getTRPCErrorShape> };
  try {
    ctx = await opts.createContext({ req, res, info });
    const data: unknown = await procedure({
      path,
      getRawInput,
      ctx,
      type,
      signal: abort.signal,
      batchIndex: 0,
    });
    if (isDataStream(data))
      throw new TRPCError({
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'Cannot use stream-like response in non-streaming request - use httpBatchStreamLink',
      });
    answer = { result: { data } };
  } catch (cause) {
    const error = getTRPCErrorFromUnknown(cause);
    opts.onError?.({ error, path, input, ctx: ctx as never, type, req });
    answer = { error: getTRPCErrorShape({ config, ctx, error, input, path, type }) };
  }
  const untransformed = (batch ? [answer] : answer) as Parameters<typeof getHTTPStatusCode>[0];
  if (res.statusCode === 200) res.statusCode = getHTTPStatusCode(untransformed);
  res.setHeader('vary', 'trpc-accept, accept');
  // A result is serialized as tRPC's transformTRPCResponse does it, less its two copies of the answer.
  const item =
    'result' in answer
      ? { result: { data: config.transformer.output.serialize(answer.result.data) } }
      : transformTRPCResponse(config, answer);
  endJson(res, JSON.stringify(batch ? [item] : item));
}

/** A single call's input, deserialized: from the `input` parameter of a GET or a POST's whole body. */
async function inputOf(
  call: SingleCall,
  body: Promise<string> | null,
  deserialize: (json: unknown) => unknown,
) {
  let json: unknown;
  if (body) {
    const text = await body;
    // As fetch's `json()`: a leading byte order mark is dropped, and an empty body does not parse.
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } else json = call.query ? JSON.parse(call.query) : undefined;
  if (json === undefined) return undefined;
  if (!call.batch) return deserialize(json);
  if (!isObject(json))
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: '"input" needs to be an object when doing a batch call',
    });
  const first = json[0];
  return first === undefined ? undefined : deserialize(first);
}

/**
 * A request's whole body as text, at most `limit` bytes (PAYLOAD_TOO_LARGE beyond, the rest left to
 * flow away). A client that closes before the body's end, before or while it is read, ends the read
 * with CLIENT_CLOSED_REQUEST.
 */
function readBody(req: Request, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (req.readableEnded) {
      resolve('');
      return;
    }
    if (req.destroyed) {
      reject(new TRPCError({ code: 'CLIENT_CLOSED_REQUEST' }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error?: unknown) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onClose);
      req.off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) settle(new TRPCError({ code: 'PAYLOAD_TOO_LARGE' }));
      else chunks.push(chunk);
    };
    const onEnd = () => settle();
    // After 'end' these listeners are gone: a close (or the stream's 'aborted' error) that comes first
    // means the client went away before its body was whole.
    const onClose = (cause?: unknown) => settle(new TRPCError({ code: 'CLIENT_CLOSED_REQUEST', cause }));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onClose);
    req.once('close', onClose);
  });
}

/**
 * tRPC's fetch `Request` for a request, with the body already read. A Host or target it cannot build a
 * URL from (`Host: a@b` makes undici throw) is the client's mistake: BAD_REQUEST, not a 500.
 */
function requestOf(req: Request, res: Response, maxBodySize: number): globalThis.Request {
  try {
    return incomingMessageToRequest(req, res, { maxBodySize });
  } catch (cause) {
    if (cause instanceof TRPCError) throw cause;
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'The request target could not be read', cause });
  }
}

/** A plain object or class instance, not an array (tRPC's `isObject`). */
const isObject = (value: unknown): value is Record<PropertyKey, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** tRPC's test for an answer only a stream can carry: an async iterable, or an object holding promises or iterables. */
function isDataStream(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (Symbol.asyncIterator in value) return true;
  return Object.values(value).some(
    (v) =>
      (isObject(v) && Symbol.asyncIterator in v) ||
      ((isObject(v) || typeof v === 'function') &&
        typeof (v as { then?: unknown }).then === 'function' &&
        typeof (v as { catch?: unknown }).catch === 'function'),
  );
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
  // An error it answers before reading the calls (a batch over the limit) has no content type of its
  // own: the Response's default for a string, text/plain. It is JSON like every other answer.
  const type = response.headers.get('content-type') ?? '';
  if (
    (type.startsWith('application/json') || type === 'text/plain;charset=UTF-8') &&
    !response.headers.has('transfer-encoding')
  ) {
    endJson(res, await response.text());
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
