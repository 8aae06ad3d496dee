import { persistStep } from './persist.ts';
import { pollStep } from './poll.ts';
import { settleStep } from './settle.ts';
import type { Step, StepName } from './step.ts';
import { submitStep } from './submit.ts';

/** The generation pipeline: submit → (wait) → poll … → persist → settle. */
export const STEPS: Record<StepName, Step<any>> = {
  submit: submitStep,
  poll: pollStep,
  persist: persistStep,
  settle: settleStep,
};

export { Abandoned, firstStep, type StepDeps, type StepOptions, type StepOutcome } from './step.ts';
