import { type ChildProcess, spawn } from 'node:child_process';

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** What it has logged so far (the last 20,000 characters of stderr). */
  log(): string;
  /** SIGTERM (or the given signal) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * The real server (`node --import tsx server/index.ts`) in its own process on a free port, with `env`
 * on top of this process's environment. Resolves once it logs that it listens.
 */
export function startServerProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${buffer.slice(-2000)}`));
    }, timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      buffer = (buffer + chunk.toString()).slice(-20_000);
      const match =
        /"msg":"listening".*?"url":"(http[^"]+)"/.exec(buffer) ??
        /"url":"(http[^"]+)".*?"msg":"listening"/.exec(buffer);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({
          url: match[1],
          child,
          log: () => buffer,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null) child.kill(signal);
            await exited;
          },
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${buffer.slice(-2000)}`));
    });
  });
}
