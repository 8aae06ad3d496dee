// What CI can check of the container files without a Docker engine: compose.yaml parsed (a strict
// YAML subset: maps, lists, plain/quoted scalars and JSON-style flow lists; anything else is refused
// rather than guessed) and the Dockerfile checked against hadolint-style rules.

export type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

interface Line {
  indent: number;
  text: string;
  no: number;
}

const stripComment = (text: string): string => {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) return text.slice(0, i);
  }
  return text;
};

const scalar = (raw: string, no: number): Yaml => {
  const v = raw.trim();
  if (v === '' || v === '~' || v === 'null') return null;
  if (/^[&*!|>]/.test(v)) throw new Error(`line ${no}: anchors, tags and block scalars are not supported`);
  if (v.startsWith('[') || v.startsWith('{')) {
    try {
      return JSON.parse(v) as Yaml;
    } catch {
      throw new Error(`line ${no}: only JSON-style flow collections are supported: ${v}`);
    }
  }
  if (v.startsWith('"')) return JSON.parse(v) as string;
  if (v.startsWith("'")) {
    if (!v.endsWith("'")) throw new Error(`line ${no}: unterminated quote`);
    return v.slice(1, -1).replace(/''/g, "'");
  }
  return v;
};

/** Splits `key: value` (the key may be quoted); null when the text is not a mapping entry. */
const entry = (text: string): [string, string] | null => {
  const m = /^("[^"]*"|'[^']*'|[^\s"'#][^:]*?):(?:\s+(.*))?$/.exec(text);
  if (!m) return null;
  return [String(scalar(m[1]!, 0)), m[2] ?? ''];
};

export function parseYaml(source: string): Yaml {
  const lines: Line[] = [];
  source.split('\n').forEach((raw, i) => {
    if (raw.includes('\t')) throw new Error(`line ${i + 1}: tabs are not allowed in YAML indentation`);
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '' || text.trim() === '---') return;
    lines.push({ indent: text.length - text.trimStart().length, text: text.trim(), no: i + 1 });
  });
  let pos = 0;

  const block = (indent: number): Yaml => {
    const first = lines[pos];
    if (!first || first.indent < indent) return null;
    const isList = first.text === '-' || first.text.startsWith('- ');
    if (isList) {
      const list: Yaml[] = [];
      while (pos < lines.length && lines[pos]!.indent === first.indent && lines[pos]!.text.startsWith('-')) {
        const line = lines[pos]!;
        const rest = line.text.slice(1).trim();
        if (rest === '') {
          pos++;
          list.push(block(line.indent + 1));
        } else if (entry(rest)) {
          // `- key: value` starts a mapping indented past the dash.
          lines[pos] = { indent: line.indent + 2, text: rest, no: line.no };
          list.push(block(line.indent + 2));
        } else {
          pos++;
          list.push(scalar(rest, line.no));
        }
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (pos < lines.length && lines[pos]!.indent === first.indent) {
      const line = lines[pos]!;
      const kv = entry(line.text);
      if (!kv) throw new Error(`line ${line.no}: expected "key: value", got "${line.text}"`);
      const [key, value] = kv;
      if (key in map) throw new Error(`line ${line.no}: duplicate key "${key}"`);
      pos++;
      if (value.trim() === '') {
        const next = lines[pos];
        map[key] = next && next.indent > line.indent ? block(next.indent) : null;
      } else {
        map[key] = scalar(value, line.no);
      }
    }
    const next = lines[pos];
    if (next && next.indent > first.indent) throw new Error(`line ${next.no}: unexpected indentation`);
    return map;
  };

  const result = block(0);
  if (pos < lines.length) throw new Error(`line ${lines[pos]!.no}: unexpected indentation`);
  return result;
}

export interface DockerInstruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(source: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending = '';
  let start = 0;
  source.split('\n').forEach((raw, i) => {
    const text = raw.trim();
    if (!pending && (text === '' || text.startsWith('#'))) return;
    if (!pending) start = i + 1;
    if (text.endsWith('\\')) {
      pending += `${text.slice(0, -1)} `;
      return;
    }
    const full = pending + text;
    pending = '';
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(full);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot read "${full}"`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
  });
  return out;
}

/** hadolint-style findings; an empty list means the Dockerfile passes. */
export function lintDockerfile(source: string): string[] {
  const problems: string[] = [];
  const all = parseDockerfile(source);
  const stages: { name?: string; from: DockerInstruction; body: DockerInstruction[] }[] = [];
  for (const ins of all) {
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) problems.push(`line ${ins.line}: FROM not understood`);
      const image = m?.[1] ?? '';
      if (/:latest$/.test(image) || (!image.includes(':') && !image.startsWith('$')))
        problems.push(`line ${ins.line}: pin the base image tag (DL3006/DL3007)`);
      stages.push({ name: m?.[2], from: ins, body: [] });
    } else if (ins.op !== 'ARG' && stages.length === 0) {
      problems.push(`line ${ins.line}: ${ins.op} before the first FROM`);
    } else if (stages.length > 0) {
      stages.at(-1)!.body.push(ins);
    }
  }
  if (stages.length < 2) problems.push('not a multi-stage build');
  const names = new Set(stages.map((s) => s.name).filter(Boolean));
  for (const ins of all) {
    if (ins.op === 'COPY') {
      const from = /--from=(\S+)/.exec(ins.args)?.[1];
      if (from && !names.has(from)) problems.push(`line ${ins.line}: COPY --from=${from} names no stage`);
    }
    if (ins.op === 'ADD' && !/^(?:--\S+\s+)*https?:/.test(ins.args))
      problems.push(`line ${ins.line}: use COPY for local files (DL3020)`);
    if (ins.op === 'WORKDIR' && !ins.args.startsWith('/'))
      problems.push(`line ${ins.line}: WORKDIR must be absolute (DL3000)`);
    if (ins.op === 'RUN' && /\bapt-get install\b/.test(ins.args) && !/--no-install-recommends/.test(ins.args))
      problems.push(`line ${ins.line}: apt-get install without --no-install-recommends (DL3015)`);
    if (ins.op === 'RUN' && /\bnpm install\b/.test(ins.args))
      problems.push(`line ${ins.line}: use npm ci for reproducible installs (DL3016)`);
    if (ins.op === 'RUN' && /(^|\s)cd\s/.test(ins.args))
      problems.push(`line ${ins.line}: use WORKDIR, not cd (DL3003)`);
  }
  const final = stages.at(-1);
  if (final) {
    const users = final.body.filter((i) => i.op === 'USER');
    const lastUser = users.at(-1)?.args;
    if (!lastUser || lastUser === 'root' || lastUser === '0')
      problems.push('the runtime stage must switch to a non-root USER (DL3002)');
    const cmds = final.body.filter((i) => i.op === 'CMD' || i.op === 'ENTRYPOINT');
    if (cmds.length === 0) problems.push('the runtime stage has no CMD');
    for (const cmd of cmds) {
      try {
        const argv = JSON.parse(cmd.args) as unknown;
        if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string'))
          problems.push(`line ${cmd.line}: ${cmd.op} must be a JSON array`);
      } catch {
        problems.push(`line ${cmd.line}: ${cmd.op} must use the exec (JSON) form (DL3025)`);
      }
    }
    if (final.body.filter((i) => i.op === 'CMD').length > 1) problems.push('more than one CMD (DL4003)');
    const health = final.body.find((i) => i.op === 'HEALTHCHECK');
    if (!health) problems.push('the runtime stage has no HEALTHCHECK');
    else {
      const json = /\bCMD\s+(\[.*\])\s*$/.exec(health.args)?.[1];
      if (!json) problems.push(`line ${health.line}: HEALTHCHECK CMD must use the exec form`);
      else if (!JSON.parse(json).join(' ').includes('/healthz'))
        problems.push(`line ${health.line}: HEALTHCHECK must call /healthz`);
    }
    if (final.body.some((i) => i.op === 'RUN' && /npm (ci|install)(?![^&]*--omit=dev)/.test(i.args)))
      problems.push('the runtime stage installs dev dependencies');
  }
  return problems;
}
