// Flags and LATENTFARM_* environment variables for every setting, declared once
// per part (its config.ts) and parsed here: flag beats env beats default.
import { ConfigError } from './errors.js';
import { parseDuration } from './time.js';

export interface OptionSpec<T> {
  readonly help: string;
  readonly default: T;
  readonly kind: string;
  /** Only a flag sets it, never LATENTFARM_*: for a per-call argument whose env name would be another setting's. */
  readonly flagOnly?: boolean;
  parse(raw: string, name: string): T;
}

/** `s`, settable by its flag alone. */
export const flagOnly = <T>(s: OptionSpec<T>): OptionSpec<T> => ({ ...s, flagOnly: true });

function spec<T>(kind: string, help: string, def: T, parse: (raw: string, name: string) => T): OptionSpec<T> {
  return { kind, help, default: def, parse };
}

export const opt = {
  string: (help: string, def: string): OptionSpec<string> => spec('string', help, def, (raw) => raw),
  int: (help: string, def: number, range: { min?: number; max?: number } = {}): OptionSpec<number> =>
    spec('int', help, def, (raw, name) => {
      const v = Number(raw);
      if (!Number.isInteger(v)) throw new ConfigError(`${name}: "${raw}" is not an integer`);
      return inRange(v, range, name);
    }),
  number: (help: string, def: number, range: { min?: number; max?: number } = {}): OptionSpec<number> =>
    spec('number', help, def, (raw, name) => {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw new ConfigError(`${name}: "${raw}" is not a number`);
      return inRange(v, range, name);
    }),
  bool: (help: string, def: boolean): OptionSpec<boolean> =>
    spec('bool', help, def, (raw, name) => {
      if (['1', 'true', 'yes', 'on', ''].includes(raw)) return true;
      if (['0', 'false', 'no', 'off'].includes(raw)) return false;
      throw new ConfigError(`${name}: "${raw}" is not a boolean (use true or false)`);
    }),
  /** A duration such as 90s, 15m, 12h or 30d, or 0; the value is in ms. */
  duration: (help: string, defMs: number): OptionSpec<number> =>
    spec('duration', help, defMs, (raw, name) => {
      const ms = parseDuration(raw);
      if (ms === undefined) throw new ConfigError(`${name}: "${raw}" is not a duration (a number with ms, s, m, h or d, e.g. 30d; or 0)`);
      return ms;
    }),
  /** A size such as 500MB, 20GB or 1TiB (decimal or binary units), or a plain number of bytes; the value is in bytes. */
  bytes: (help: string, def: number): OptionSpec<number> =>
    spec('size', help, def, (raw, name) => {
      const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(raw.trim());
      const unit = (m?.[2] ?? 'b').toLowerCase();
      const scale = unit === 'b' ? 1 : (unit.includes('i') ? 1024 : 1000) ** (' kmgt'.indexOf(unit[0] as string));
      const v = m === null ? Number.NaN : Math.round(Number(m[1]) * scale);
      if (!Number.isSafeInteger(v)) throw new ConfigError(`${name}: "${raw}" is not a size (a number with B, KB, MB, GB, TB or KiB … TiB, e.g. 20GB; or 0)`);
      return v;
    }),
  list: (help: string, def: string[]): OptionSpec<string[]> =>
    spec('list', help, def, (raw) => raw.split(',').map((s) => s.trim()).filter((s) => s !== '')),
  oneOf: <const T extends string>(help: string, def: T, values: readonly T[]): OptionSpec<T> =>
    spec(values.join('|'), help, def, (raw, name) => {
      if (!(values as readonly string[]).includes(raw)) {
        throw new ConfigError(`${name}: "${raw}" is not one of ${values.join(', ')}`);
      }
      return raw as T;
    }),
};

function inRange(v: number, range: { min?: number; max?: number }, name: string): number {
  if (range.min !== undefined && v < range.min) throw new ConfigError(`${name}: ${v} is below the minimum ${range.min}`);
  if (range.max !== undefined && v > range.max) throw new ConfigError(`${name}: ${v} is above the maximum ${range.max}`);
  return v;
}

export type OptionSpecs = Record<string, OptionSpec<unknown>>;
export type OptionValues<S extends OptionSpecs> = { -readonly [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never };

/** `specs` less `keys`: for a command that takes another part's options but sets some of them itself. */
export function omitOptions<S extends OptionSpecs, K extends keyof S & string>(specs: S, keys: readonly K[]): Omit<S, K> {
  return Object.fromEntries(Object.entries(specs).filter(([k]) => !(keys as readonly string[]).includes(k))) as Omit<S, K>;
}

/** The values of `specs`' options out of a larger set of parsed values (e.g. one part's share of a command's flags). */
export function optionValues<S extends OptionSpecs>(specs: S, values: OptionValues<S>): OptionValues<S> {
  return Object.fromEntries(Object.keys(specs).map((k) => [k, values[k as keyof S]])) as OptionValues<S>;
}

export const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (key: string): string => `LATENTFARM_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

export interface Parsed<S extends OptionSpecs> {
  values: OptionValues<S>;
  positionals: string[];
  help: boolean;
  /** Keys the user set (by flag or environment), as opposed to defaults: a default may give way, a setting may not. */
  explicit: ReadonlySet<keyof S & string>;
}

/**
 * Parses `--flag value`, `--flag=value` and bare `--bool-flag`; unknown flags
 * are an error so a typo never silently falls back to a default.
 */
export function parseOptions<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Parsed<S> {
  const byFlag = new Map(Object.keys(specs).map((k) => [flagName(k), k]));
  const raw = new Map<string, { value: string; source: string }>();
  for (const [key, s] of Object.entries(specs)) {
    if (s.flagOnly === true) continue;
    const e = env[envName(key)];
    if (e !== undefined && e !== '') raw.set(key, { value: e, source: envName(key) });
  }
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') { help = true; continue; }
    if (!arg.startsWith('--')) { positionals.push(arg); continue; }
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const negated = flag.startsWith('no-') && !byFlag.has(flag) ? flag.slice(3) : undefined;
    const key = byFlag.get(negated ?? flag);
    if (key === undefined) throw new ConfigError(`unknown flag --${flag} (see --help)`);
    const s = specs[key] as OptionSpec<unknown>;
    let value: string;
    if (negated !== undefined) {
      if (s.kind !== 'bool') throw new ConfigError(`unknown flag --${flag} (see --help)`);
      value = 'false';
    } else if (eq !== -1) value = arg.slice(eq + 1);
    else if (s.kind === 'bool') value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError(`--${flag} needs a value`);
      value = next;
      i++;
    }
    raw.set(key, { value, source: `--${flag}` });
  }
  const values: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(specs)) {
    const r = raw.get(key);
    values[key] = r === undefined ? s.default : s.parse(r.value, r.source);
  }
  return { values: values as OptionValues<S>, positionals, help, explicit: new Set(raw.keys()) as ReadonlySet<keyof S & string> };
}

export function formatHelp(usage: string, specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([key, s]) => {
    const def = Array.isArray(s.default) ? s.default.join(',') : String(s.default);
    const source = s.flagOnly === true ? '' : `${envName(key)}, `;
    return [`  --${flagName(key)} <${s.kind}>`, `${s.help} [${source}default: ${def === '' ? '""' : def}]`] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return `${usage}\n\nOptions:\n${rows.map(([f, h]) => f.padEnd(width) + h).join('\n')}\n  --help${' '.repeat(width - 8)}Show this help\n`;
}

/**
 * For scripts (benchmarks, reports), which have no command line of their own to catch a bad flag: the parsed
 * options, or it exits after printing the help (status 0) or a bad flag's error in one line (status 2).
 */
export function parseScriptOptions<S extends OptionSpecs>(specs: S, argv: readonly string[], usage: string, env: NodeJS.ProcessEnv = process.env): Parsed<S> {
  let parsed: Parsed<S>;
  try {
    parsed = parseOptions(specs, argv, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n${usage}\n`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(formatHelp(usage, specs));
    process.exit(0);
  }
  return parsed;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/**
 * Checks a gRPC address given by a user: `host:port` (`[v6]:port`), or a gRPC
 * target URI (`dns:///host:port`, `unix:/path`) passed on as it is. Without a
 * port, grpc-js would quietly dial 443 and retry forever.
 */
export function checkAddress(flag: string, value: string): string {
  if (/^(dns|unix|unix-abstract|ipv4|ipv6|xds):/.test(value)) return value; // a target URI, for grpc-js to resolve
  const m = HOST_PORT.exec(value);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new ConfigError(`${flag}: "${value}" is not host:port (e.g. 127.0.0.1:7400)`);
  }
  return value;
}
