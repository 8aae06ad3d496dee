/**
 * How prompts are made searchable (issue 14): text is split into runs. A CJK run (Han, kana, Hangul:
 * scripts written without spaces) is indexed by its character bigrams, plus its last character alone, so
 * a two-character term such as 灯笼 is one exact gram and every character starts some gram. Any other run
 * of letters and digits is one lower-cased word. A query term then matches:
 * - CJK: the term appears inside a CJK run (灯笼 finds 红灯笼);
 * - other words: a word that starts with the term (lantern finds lanterns, not "slantern").
 * Grams go to output_search_grams (user_id, gram, output_id); job_outputs.search_text keeps the normalised
 * text for the final check. db/migrations/2026-12-01-14-02-output-search.ts carries a frozen copy.
 */

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const RUNS = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+|[\p{L}\p{N}\p{M}]+/gu;

/** Longest gram stored: longer words are cut (a query term is cut the same way, then checked whole). */
export const GRAM_MAX_LENGTH = 32;

/** Sorts after every character a gram can hold: the upper bound of a prefix range. */
const PREFIX_END = '\u{10FFFF}';

interface Run {
  text: string;
  cjk: boolean;
}

const runsOf = (text: string): Run[] =>
  Array.from(text.normalize('NFKC').toLowerCase().matchAll(RUNS), ([run]) => ({
    text: run,
    cjk: CJK.test(run),
  }));

const cut = (text: string): string => Array.from(text).slice(0, GRAM_MAX_LENGTH).join('');

/** The normalised text the final check runs on: runs joined by single spaces, with a leading space. */
export const searchTextOf = (prompt: string): string =>
  runsOf(prompt)
    .map((run) => ` ${run.text}`)
    .join('');

/** The distinct grams a prompt is indexed under. */
export const gramsOf = (prompt: string): string[] => {
  const grams = new Set<string>();
  for (const run of runsOf(prompt)) {
    if (!run.cjk) {
      grams.add(cut(run.text));
      continue;
    }
    const chars = Array.from(run.text);
    for (let i = 0; i + 1 < chars.length; i += 1) grams.add(chars[i]! + chars[i + 1]!);
    grams.add(chars.at(-1)!);
  }
  return [...grams];
};

/** One way to find candidates: an exact gram, or every gram in [from, to) (a prefix). */
export type GramCondition = { gram: string } | { from: string; to: string };

export interface SearchQuery {
  /** Candidate finders; the search drives from the most selective one. */
  conditions: GramCondition[];
  /** LIKE patterns (on search_text) every match must satisfy; they use no wildcard characters of their own. */
  patterns: string[];
}

/** Most query terms used; more would only slow the search down. */
const MAX_TERMS = 8;

/** The conditions and checks for a search text; null when it holds no letter or digit. */
export const parseQuery = (q: string): SearchQuery | null => {
  const runs = runsOf(q).slice(0, MAX_TERMS);
  if (runs.length === 0) return null;
  const conditions: GramCondition[] = [];
  const patterns: string[] = [];
  for (const run of runs) {
    const chars = Array.from(run.text);
    if (run.cjk && chars.length >= 2) {
      for (let i = 0; i + 1 < chars.length && conditions.length < MAX_TERMS * 2; i += 1) {
        conditions.push({ gram: chars[i]! + chars[i + 1]! });
      }
      patterns.push(`%${run.text}%`);
    } else {
      const prefix = cut(run.text);
      conditions.push({ from: prefix, to: prefix + PREFIX_END });
      patterns.push(run.cjk ? `%${run.text}%` : `% ${run.text}%`);
    }
  }
  return { conditions, patterns };
};
