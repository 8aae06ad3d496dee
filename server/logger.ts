/** A small structured logger (JSON lines on stderr). Never pass secrets; Error objects are reduced to name+message. */
type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
let threshold: Level = 'info';

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

function write(level: Exclude<Level, 'silent'>, msg: string, fields?: Record<string, unknown>) {
  if (order[level] < order[threshold]) return;
  const entry: Record<string, unknown> = { t: new Date().toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields ?? {})) entry[k] = clean(v);
  process.stderr.write(`${JSON.stringify(entry)}\n`);
}

export const logger = {
  setLevel: (level: Level) => {
    threshold = level;
  },
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};
