// A benchmark's helper process (its HTTP client, say), so that its work stays out of the measured
// process: `forkChild` starts a module (under tsx when it is TypeScript) and asks it questions; the
// module answers them with `answerParent`. Each question carries an id, so several may be out at once.
import { fork } from 'node:child_process';

type Asked<Q> = Q & { id: number };
type Answered<A> = (A & { id: number }) | { id: number; error: string };

/** Starts `module` (which calls `answerParent`); `ask` resolves with its answer or rejects with its error. */
export function forkChild<Q, A>(module: URL) {
  const child = fork(module, [], {
    // A compiled module (bench/compiled.ts) runs as it is; a TypeScript one under tsx.
    execArgv: module.pathname.endsWith('.ts') ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const waiting = new Map<number, (answer: Answered<A>) => void>();
  child.on('message', (answer: Answered<A>) => waiting.get(answer.id)?.(answer));
  return {
    ask: (question: Q) =>
      new Promise<A>((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, (answer) => {
          waiting.delete(id);
          if ('error' in answer) reject(new Error(answer.error));
          else resolve(answer);
        });
        child.send({ ...question, id } satisfies Asked<Q>);
      }),
    close: () => {
      child.kill();
    },
  };
}

/** In the forked module: answers each question from the parent with `handle`'s result or error. */
export function answerParent<Q, A>(handle: (question: Q) => Promise<A>): void {
  process.on('message', (question: Asked<Q>) => {
    handle(question).then(
      (answer) => process.send?.({ ...answer, id: question.id } satisfies Answered<A>),
      (error: unknown) =>
        process.send?.({
          id: question.id,
          error: error instanceof Error ? error.message : String(error),
        } satisfies Answered<A>),
    );
  });
}
