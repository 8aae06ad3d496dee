import { useCallback, useEffect, useState } from 'react';

/** Everything the Create form holds besides the tab and the first-frame image (those live in the URL). */
export interface CreateForm {
  prompt: string;
  negativePrompt: string;
  /** As typed; empty means random. */
  seed: string;
  imageModelId?: string;
  videoModelId?: string;
  size?: string;
  n: number;
  resolution?: string;
  duration?: number;
}

export const EMPTY_FORM: CreateForm = { prompt: '', negativePrompt: '', seed: '', n: 1 };
/** The form survives a reload (and a video that takes a minute) through this key. */
export const FORM_KEY = 'df.createForm';

function load(): CreateForm {
  try {
    const saved = JSON.parse(localStorage.getItem(FORM_KEY) ?? 'null') as Partial<CreateForm> | null;
    if (!saved || typeof saved !== 'object') return EMPTY_FORM;
    return {
      ...EMPTY_FORM,
      ...saved,
      prompt: typeof saved.prompt === 'string' ? saved.prompt : '',
      negativePrompt: typeof saved.negativePrompt === 'string' ? saved.negativePrompt : '',
      seed: typeof saved.seed === 'string' ? saved.seed : '',
      n: typeof saved.n === 'number' ? saved.n : 1,
    };
  } catch {
    return EMPTY_FORM;
  }
}

/** The form's state, saved on every change. */
export function useCreateForm() {
  const [form, setForm] = useState<CreateForm>(load);
  useEffect(() => {
    try {
      localStorage.setItem(FORM_KEY, JSON.stringify(form));
    } catch {
      // Private mode: the form lasts for this page only.
    }
  }, [form]);
  const update = useCallback(
    (patch: Partial<CreateForm>) => setForm((current) => ({ ...current, ...patch })),
    [],
  );
  return [form, update, setForm] as const;
}

/** A job's stored settings back as form fields (Reuse restores every one of them). */
export function formFromJob(job: {
  kind: 'image' | 'video';
  model: string;
  prompt: string;
  params: Record<string, unknown>;
}): Partial<CreateForm> {
  const p = job.params;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const common = {
    prompt: job.prompt,
    negativePrompt: str(p.negativePrompt) ?? '',
    seed: num(p.seed) === undefined ? '' : String(p.seed),
  };
  return job.kind === 'image'
    ? { ...common, imageModelId: job.model, size: str(p.size), n: num(p.n) ?? 1 }
    : { ...common, videoModelId: job.model, resolution: str(p.resolution), duration: num(p.durationSeconds) };
}
