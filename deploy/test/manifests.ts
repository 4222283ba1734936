// Renders the kustomize overlays with kubectl and checks each object offline
// against the Kubernetes and CRD schemas (kubernetes-models, KEDA and the
// Prometheus operator's models).
//
// Those schemas reject wrong types and missing fields but, like the API
// server's lenient decoding, accept fields they do not know: a typo such as
// `imagee` would pass. So validation runs on a proxy of the object that
// records which fields the schema's validator read; a field it never read is
// one the schema does not define, and is reported as unknown.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import * as k8s from 'kubernetes-models';
import * as keda from '@kubernetes-models/keda';
import * as promOperator from '@kubernetes-models/prometheus-operator';

export const deployDir = fileURLToPath(new URL('..', import.meta.url));

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: unknown;
  [field: string]: unknown;
}

/** kubectl on the PATH, or undefined (CI requires it: .ci/run checks). */
export async function kubectlVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('kubectl', ['version', '--client']);
    return stdout.trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

/** `kubectl kustomize <dir>` (relative to deploy/), parsed. */
export async function render(dir: string): Promise<K8sObject[]> {
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', `${deployDir}/${dir}`], { maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject);
}

interface ModelClass { apiVersion: string; kind: string; prototype: { validate(this: unknown): void } }

function isModelClass(v: unknown): v is ModelClass {
  return typeof v === 'function' && typeof (v as Partial<ModelClass>).apiVersion === 'string' && typeof (v as Partial<ModelClass>).kind === 'string';
}

/** Every model class of the packages, by `apiVersion kind` (the packages export group → version → class). */
const models = new Map<string, ModelClass>();
function collect(ns: unknown, depth: number): void {
  if (depth > 3 || ns === null || typeof ns !== 'object') return;
  for (const v of Object.values(ns)) {
    if (isModelClass(v)) models.set(`${v.apiVersion} ${v.kind}`, v);
    else collect(v, depth + 1);
  }
}
for (const pkg of [k8s, keda, promOperator]) collect(pkg, 0);

/** Wraps `value` so that every field read (or listed) is added to `read`, by JSON-pointer-like path. */
function tracked(value: unknown, path: string, read: Set<string>): unknown {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const v: unknown = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || !Object.hasOwn(target, key)) return v;
      read.add(`${path}/${key}`);
      return tracked(v, `${path}/${key}`, read);
    },
    ownKeys(target) {
      const keys = Reflect.ownKeys(target);
      for (const k of keys) if (typeof k === 'string') read.add(`${path}/${k}`);
      return keys;
    },
  });
}

function fieldPaths(value: unknown, path: string, out: string[]): string[] {
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(`${path}/${k}`);
      fieldPaths(v, `${path}/${k}`, out);
    }
  }
  return out;
}

/** Schema problems of one object: no schema for its kind, validation errors, or fields the schema does not define. */
export function schemaProblems(o: K8sObject): string[] {
  const model = models.get(`${o.apiVersion} ${o.kind}`);
  if (model === undefined) return [`no schema for ${o.apiVersion} ${o.kind}`];
  const read = new Set<string>();
  try {
    model.prototype.validate.call(tracked(o, '', read));
  } catch (err) {
    return [(err as Error).message];
  }
  return fieldPaths(o, '', []).filter((p) => !read.has(p)).map((p) => `unknown field ${p}`);
}

export const id = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;
