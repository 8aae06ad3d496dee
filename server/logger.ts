import { format as formatArgs } from 'node:util';

/**
 * A small structured logger: one JSON object per line on stderr (LOG_FORMAT=pretty for readable lines).
 * Lines written while serving a request carry its `requestId`. Never pass secrets; Error objects are
 * reduced to name, message, code and stack.
 */
type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'pretty';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
let threshold: Level = 'info';
let format: LogFormat = 'json';
let sink: (line: string) => void = (line) => process.stderr.write(line);

const clean = (value: unknown): unknown => {
  if (value instanceof Error) {
    return {
      name: value.name,
      message: value.message,
      code: (value as { code?: unknown }).code,
      stack: value.stack,
    };
  }
  return value;
};

const colours: Record<string, string> = { debug: '90', info: '36', warn: '33', error: '31' };

function pretty(entry: Record<string, unknown>): string {
  const { t, level, msg, ...rest } = entry;
  const time = String(t).slice(11, 23);
  const fields = Object.entries(rest)
    .map(([k, v]) => {
      if (v && typeof v === 'object' && 'stack' in v && typeof v.stack === 'string') return `\n${v.stack}`;
      return ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`;
    })
    .join('');
  const tty = process.stderr.isTTY;
  const tag = String(level).toUpperCase().padEnd(5);
  return `${time} ${tty ? `\x1b[${colours[String(level)]}m${tag}\x1b[0m` : tag} ${msg}${fields}\n`;
}

function write(level: Exclude<Level, 'silent'>, msg: string, fields?: Record<string, unknown>) {
  if (order[level] < order[threshold]) return;
  const entry: Record<string, unknown> = { t: new Date().toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields ?? {})) if (v !== undefined) entry[k] = clean(v);
  sink(format === 'pretty' ? pretty(entry) : `${JSON.stringify(entry)}\n`);
}

export const logger = {
  setLevel: (level: Level) => {
    threshold = level;
  },
  setFormat: (value: LogFormat) => {
    format = value;
  },
  /** Where lines go (stderr by default); tests capture them. Returns a function restoring the previous sink. */
  setSink: (next: (line: string) => void): (() => void) => {
    const previous = sink;
    sink = next;
    return () => {
      sink = previous;
    };
  },
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};

/**
 * Sends what third-party code prints with console.* (ali-oss and urllib warnings, …) and Node's process
 * warnings through the logger, so every line on stderr is one of ours.
 */
export function routeConsoleToLogger(): void {
  const as =
    (level: Exclude<Level, 'silent'>) =>
    (...args: unknown[]) =>
      write(level, formatArgs(...args), { source: 'console' });
  console.log = as('info');
  console.info = as('info');
  console.debug = as('debug');
  console.warn = as('warn');
  console.error = as('error');
  process.removeAllListeners('warning');
  process.on('warning', (warning) =>
    write('warn', warning.message, { source: 'process', name: warning.name }),
  );
}
