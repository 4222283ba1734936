// Every kustomize overlay renders, every object passes its schema offline
// (Kubernetes, KEDA, Prometheus operator; unknown fields included), and the
// checks schemas cannot make: each LATENTFARM_* variable and flag is one the
// binary reads, with a value it accepts; ports agree between containers,
// probes, Services, monitors and NetworkPolicies; workers may patch pods in
// their namespace and nothing else; everything runs as non-root
// with resources set; and the overlays are what deploy/README.md says.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import type { IPodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { envName, flagName, parseOptions, type OptionSpecs } from '@latentfarm/common';
import { coordinatorOptions, compileCoordinatorConfig } from '@latentfarm/coordinator';
import { workerOptions } from '@latentfarm/worker';
import { onPath, runProgram, tempDir } from '@latentfarm/testkit';
import { deployDir, id, kubectlVersion, render, schemaProblems, type K8sObject } from './manifests.js';
import { expectedPrometheusRule, prometheusRulePath } from './prometheus-rule.js';

const overlays = ['kubernetes/overlays/dev', 'kubernetes/overlays/production', 'kubernetes/overlays/production-hpa', 'prometheus/operator'] as const;
const kubectl = await kubectlVersion();
if (kubectl === undefined) {
  process.stderr.write('deploy/test/kubernetes.test.ts: SKIPPED, kubectl is not on the PATH (CI requires it; .ci/run checks)\n');
}
const rendered = new Map<string, K8sObject[]>();
if (kubectl !== undefined) for (const o of overlays) rendered.set(o, await render(o));
const objectsOf = (overlay: string): K8sObject[] => rendered.get(overlay) ?? [];
const ofKind = <T>(objs: K8sObject[], kind: string): Array<T & K8sObject> => objs.filter((o) => o.kind === kind) as Array<T & K8sObject>;

/** The part a container runs: `serve` (coordinator) or `worker`, by its first argument. */
const binaries: Record<string, OptionSpecs> = { serve: coordinatorOptions, worker: workerOptions };

/** The container's environment as the process sees it (fieldRefs get a stand-in value). */
function envOf(c: IContainer): Record<string, string> {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? 'from-the-downward-api']));
}

function podTemplates(objs: K8sObject[]): Array<{ owner: string; template: IPodTemplateSpec }> {
  return ofKind<IDeployment>(objs, 'Deployment').map((d) => ({ owner: id(d), template: d.spec?.template ?? {} }));
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean =>
  selector !== undefined && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** The container ports (by name and number) of the pods a label selector picks. */
function portsOf(objs: K8sObject[], selector: Record<string, string> | undefined): Array<{ name?: string; port: number }> {
  return podTemplates(objs)
    .filter(({ template }) => matches(selector, template.metadata?.labels))
    .flatMap(({ template }) => template.spec?.containers ?? [])
    .flatMap((c) => (c.ports ?? []).map((p) => ({ ...(p.name === undefined ? {} : { name: p.name }), port: p.containerPort })));
}

describe.skipIf(kubectl === undefined)(`Kubernetes manifests (${kubectl ?? 'kubectl missing'})`, () => {
  describe.each(overlays)('%s', (overlay) => {
    const objs = objectsOf(overlay);

    it('renders and every object passes its schema, with no unknown field', () => {
      expect(objs.length).toBeGreaterThan(0);
      const problems = objs.flatMap((o) => schemaProblems(o).map((p) => `${id(o)}: ${p}`));
      expect(problems).toEqual([]);
    });

    it('puts every object in namespace latentfarm, labelled part-of latentfarm', () => {
      for (const o of objs) {
        // prometheus/operator alone takes the namespace it is applied to (-n).
        if (o.kind !== 'Namespace' && overlay !== 'prometheus/operator') expect(o.metadata.namespace, id(o)).toBe('latentfarm');
        expect(o.metadata.labels?.['app.kubernetes.io/part-of'], id(o)).toBe('latentfarm');
      }
    });

    it('sets only LATENTFARM_* variables and flags the binary reads, with values it accepts', () => {
      for (const { owner, template } of podTemplates(objs)) {
        for (const c of [...(template.spec?.containers ?? []), ...(template.spec?.initContainers ?? [])]) {
          const [command, ...flags] = c.args ?? [];
          const specs = binaries[command ?? ''];
          expect(specs, `${owner} ${c.name}: runs ${command ?? 'nothing'}`).toBeDefined();
          if (specs === undefined) continue;
          const env = envOf(c);
          const known = new Set(Object.keys(specs).map(envName));
          const unknownEnv = Object.keys(env).filter((k) => k.startsWith('LATENTFARM_') && !known.has(k));
          expect(unknownEnv, `${owner}: variables ${command} does not read`).toEqual([]);
          const knownFlags = new Set(Object.keys(specs).map(flagName));
          const unknownFlags = flags.filter((f) => f.startsWith('--') && !knownFlags.has(f.slice(2).split('=')[0] ?? ''));
          expect(unknownFlags, `${owner}: flags ${command} does not have`).toEqual([]);
          // The values parse as the binary parses them (types, ranges, choices).
          const parsed = parseOptions(specs, flags, env);
          if (command === 'serve') compileCoordinatorConfig(parseOptions(coordinatorOptions, flags, env).values);
          expect(parsed.positionals, owner).toEqual([]);
        }
      }
    });

    it('matches container ports to the ports the processes listen on, probes, Services and monitors', () => {
      for (const { owner, template } of podTemplates(objs)) {
        for (const c of template.spec?.containers ?? []) {
          const [command] = c.args ?? [];
          const specs = binaries[command ?? ''];
          if (specs === undefined) continue;
          const values = parseOptions(specs, [], envOf(c)).values as { port?: number; workerPort?: number; tlsCert?: string; metricsPort: number };
          const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
          expect(ports.get('metrics'), `${owner}: metrics port`).toBe(values.metricsPort);
          if (command === 'serve') expect(ports.get('grpc'), `${owner}: gRPC port`).toBe(values.port);
          if (command === 'serve') expect(ports.get('workers'), `${owner}: worker port`).toBe((values.workerPort ?? -1) >= 0 ? values.workerPort : undefined);
          const probes = [c.readinessProbe, c.livenessProbe, c.startupProbe].filter((p): p is IProbe => p !== undefined);
          for (const p of probes) {
            const port = p.httpGet?.port ?? p.grpc?.port ?? p.tcpSocket?.port;
            const resolved = typeof port === 'string' ? ports.get(port) : port;
            expect([...ports.values()], `${owner}: probe port ${String(port)}`).toContain(resolved);
            if (p.grpc !== undefined) expect(resolved, `${owner}: the gRPC probe dials the gRPC port`).toBe(values.port);
            // The kubelet's gRPC probe speaks plaintext: against a TLS port it would never pass.
            if (p.grpc !== undefined) expect(values.tlsCert, `${owner}: a gRPC probe on a TLS port`).toBe('');
          }
        }
      }
      for (const s of ofKind<IService>(objs, 'Service')) {
        const target = portsOf(objs, s.spec?.selector);
        expect(target.length, `${id(s)} selects pods with ports`).toBeGreaterThan(0);
        for (const p of s.spec?.ports ?? []) {
          const t = p.targetPort ?? p.port;
          expect(target.some((c) => (typeof t === 'string' ? c.name === t : c.port === t)), `${id(s)} port ${p.name ?? p.port}`).toBe(true);
        }
      }
      for (const m of ofKind<IServiceMonitor>(objs, 'ServiceMonitor')) {
        const services = ofKind<IService>(objs, 'Service').filter((s) => matches(m.spec.selector.matchLabels, s.metadata?.labels));
        // On its own (prometheus/operator) the monitor's Service is in the overlay it joins.
        if (overlay === 'prometheus/operator') continue;
        expect(services.length, `${id(m)} selects a Service`).toBeGreaterThan(0);
        for (const e of m.spec.endpoints ?? []) expect(services.some((s) => (s.spec?.ports ?? []).some((p) => p.name === e.port)), `${id(m)} port ${e.port ?? ''}`).toBe(true);
      }
      for (const m of ofKind<IPodMonitor>(objs, 'PodMonitor')) {
        if (overlay === 'prometheus/operator') continue;
        const ports = portsOf(objs, m.spec.selector.matchLabels);
        for (const e of m.spec.podMetricsEndpoints ?? []) expect(ports.some((p) => p.name === e.port), `${id(m)} port ${e.port ?? ''}`).toBe(true);
      }
      for (const np of ofKind<INetworkPolicy>(objs, 'NetworkPolicy')) {
        const selected = portsOf(objs, np.spec?.podSelector.matchLabels);
        if (selected.length === 0) continue; // NATS's pods come from its Helm chart; its policy names the chart's ports
        for (const rule of np.spec?.ingress ?? []) {
          for (const p of rule.ports ?? []) expect(selected.map((s) => s.port), `${id(np)} opens ${String(p.port)}`).toContain(p.port);
        }
      }
    });

    it('runs every container as non-root, without privilege escalation, with requests and a memory limit', () => {
      for (const { owner, template } of podTemplates(objs)) {
        const pod = template.spec?.securityContext;
        for (const c of template.spec?.containers ?? []) {
          const sc = c.securityContext;
          expect(sc?.runAsNonRoot ?? pod?.runAsNonRoot, `${owner}: runAsNonRoot`).toBe(true);
          expect(sc?.runAsUser ?? pod?.runAsUser, `${owner}: runAsUser`).toBeGreaterThan(0);
          expect(sc?.allowPrivilegeEscalation, `${owner}: allowPrivilegeEscalation`).toBe(false);
          expect(sc?.capabilities?.drop, `${owner}: drops capabilities`).toContain('ALL');
          expect(c.resources?.requests?.['cpu'], `${owner}: cpu request`).toBeDefined();
          expect(c.resources?.requests?.['memory'], `${owner}: memory request`).toBeDefined();
          expect(c.resources?.limits?.['memory'], `${owner}: memory limit`).toBeDefined();
          expect(c.image, `${owner}: image`).toMatch(/^latentfarm(-cuda)?:/);
        }
      }
    });

    it('lets workers patch pods (their deletion cost) and nothing more, tells them their pod, and probes /readyz', () => {
      for (const { owner, template } of podTemplates(objs)) {
        const c = template.spec?.containers.find((x) => x.args?.[0] === 'worker');
        if (c === undefined) continue;
        const sa = template.spec?.serviceAccountName ?? '';
        expect(ofKind<K8sObject>(objs, 'ServiceAccount').map((o) => o.metadata.name), `${owner}: its service account`).toContain(sa);
        expect(template.spec?.automountServiceAccountToken, `${owner}: mounts the token`).toBe(true);
        const fields = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
        expect(fields, `${owner}: the downward API`).toMatchObject({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
        expect(c.readinessProbe?.httpGet?.path, `${owner}: readiness`).toBe('/readyz');
        const bindings = ofKind<IRoleBinding>(objs, 'RoleBinding').filter((b) => (b.subjects ?? []).some((x) => x.kind === 'ServiceAccount' && x.name === sa));
        expect(ofKind<IClusterRoleBinding>(objs, 'ClusterRoleBinding').filter((b) => (b.subjects ?? []).some((x) => x.name === sa)), `${owner}: no cluster-wide grant`).toEqual([]);
        const rules = bindings.flatMap((b) => {
          expect(b.roleRef.kind, `${id(b)}: a namespaced Role`).toBe('Role');
          return ofKind<IRole>(objs, 'Role').find((r) => r.metadata.name === b.roleRef.name)?.rules ?? [];
        });
        expect(rules, `${owner}: only patch on pods`).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }]);
      }
    });

    it('gives workers a grace period longer than their drain, and points budgets and autoscalers at what exists', () => {
      for (const { owner, template } of podTemplates(objs)) {
        for (const c of template.spec?.containers ?? []) {
          if (c.args?.[0] !== 'worker') continue;
          const { drainTimeoutMs } = parseOptions(workerOptions, [], envOf(c)).values;
          expect(template.spec?.terminationGracePeriodSeconds ?? 30, `${owner}: grace period > drain`).toBeGreaterThan(drainTimeoutMs / 1000 + 5);
        }
      }
      const deployments = new Set(ofKind<IDeployment>(objs, 'Deployment').map((d) => d.metadata?.name));
      for (const p of ofKind<IPodDisruptionBudget>(objs, 'PodDisruptionBudget')) {
        expect(podTemplates(objs).some(({ template }) => matches(p.spec?.selector?.matchLabels, template.metadata?.labels)), `${id(p)} selects pods`).toBe(true);
      }
      for (const s of ofKind<IScaledObject>(objs, 'ScaledObject')) expect(deployments.has(s.spec.scaleTargetRef.name), id(s)).toBe(true);
      for (const h of ofKind<IHorizontalPodAutoscaler>(objs, 'HorizontalPodAutoscaler')) expect(deployments.has(h.spec?.scaleTargetRef.name ?? ''), id(h)).toBe(true);
    });
  });

  const deployment = (overlay: string, name: string): IDeployment => {
    const d = ofKind<IDeployment>(objectsOf(overlay), 'Deployment').find((o) => o.metadata.name === name);
    if (d === undefined) throw new Error(`${overlay}: no Deployment ${name}`);
    return d;
  };
  const container = (d: IDeployment): IContainer => {
    const c = d.spec?.template.spec?.containers[0];
    if (c === undefined) throw new Error('no container');
    return c;
  };

  it('dev: one coordinator on the embedded store (Recreate, a volume), CPU workers with the bundled model', () => {
    const coord = deployment('kubernetes/overlays/dev', 'latentfarm-coordinator');
    expect(coord.spec?.replicas).toBe(1);
    expect(coord.spec?.strategy?.type).toBe('Recreate');
    const env = envOf(container(coord));
    expect(env['LATENTFARM_NATS_URL']).toBeUndefined();
    expect(container(coord).volumeMounts?.map((m) => m.mountPath)).toContain(env['LATENTFARM_DATA_DIR']);
    const worker = envOf(container(deployment('kubernetes/overlays/dev', 'latentfarm-worker')));
    expect(worker).toMatchObject({ LATENTFARM_ENGINE: 'onnx', LATENTFARM_PROVIDER: 'cpu', LATENTFARM_MODEL_DIR: 'models/shapes-ldm' });
    expect(env['LATENTFARM_MODELS']).toBe('shapes-ldm'); // the model folder's name
  });

  it.each(['kubernetes/overlays/production', 'kubernetes/overlays/production-hpa'])('%s: 2+ coordinators on NATS, GPU workers, a budget for each', (overlay) => {
    const coord = deployment(overlay, 'latentfarm-coordinator');
    expect(coord.spec?.replicas).toBeGreaterThanOrEqual(2);
    const env = envOf(container(coord));
    expect(env['LATENTFARM_NATS_URL']).toMatch(/^nats:\/\//);
    expect(env['LATENTFARM_NATS_REPLICAS']).toBe('3');
    const w = deployment(overlay, 'latentfarm-worker');
    const wc = container(w);
    expect(wc.resources?.limits?.['nvidia.com/gpu']).toBe(1);
    expect(w.spec?.template.spec?.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    expect(w.spec?.template.spec?.nodeSelector).toBeDefined();
    const wenv = envOf(wc);
    expect(wenv).toMatchObject({ LATENTFARM_ENGINE: 'onnx', LATENTFARM_PROVIDER: 'cuda' });
    // The model the workers serve (its folder's name) is one the coordinator accepts before any worker connects.
    const model = (wenv['LATENTFARM_MODEL_DIR'] ?? '').split('/').pop() ?? '';
    expect((env['LATENTFARM_MODELS'] ?? '').split(',')).toContain(model);
    const budgets = ofKind<IPodDisruptionBudget>(objectsOf(overlay), 'PodDisruptionBudget');
    for (const d of [coord, w]) {
      expect(budgets.some((p) => matches(p.spec?.selector?.matchLabels, d.spec?.template.metadata?.labels)), `${d.metadata?.name ?? ''} has a budget`).toBe(true);
    }
  });

  it.each(['kubernetes/overlays/production', 'kubernetes/overlays/production-hpa'])('%s: TLS for clients, mTLS for workers on a port only workers reach', (overlay) => {
    const objs = objectsOf(overlay);
    const coord = deployment(overlay, 'latentfarm-coordinator');
    const cc = container(coord);
    const env = envOf(cc);
    const config = compileCoordinatorConfig(parseOptions(coordinatorOptions, [], env).values);
    expect(config.tlsCert !== '' && config.tlsClientCa !== '' && config.workerPort > 0).toBe(true);
    // Every TLS file the coordinator reads is in a mounted Secret.
    const volumeOf = (c: IContainer, d: IDeployment, path: string) => {
      const m = (c.volumeMounts ?? []).find((v) => path.startsWith(`${v.mountPath}/`));
      return d.spec?.template.spec?.volumes?.find((v) => v.name === m?.name);
    };
    for (const f of [config.tlsCert, config.tlsKey, config.tlsClientCa]) expect(volumeOf(cc, coord, f)?.secret?.secretName, f).toBeTruthy();
    // Workers dial the Service port that leads to the worker port, with their own certificate.
    const svc = ofKind<IService>(objs, 'Service').find((s) => s.metadata.name === 'latentfarm-coordinator');
    const workerSvcPort = svc?.spec?.ports?.find((p) => p.targetPort === 'workers')?.port;
    expect(workerSvcPort).toBe(config.workerPort);
    const w = deployment(overlay, 'latentfarm-worker');
    const wc = container(w);
    const wenv = envOf(wc);
    expect(wenv['LATENTFARM_COORDINATOR']).toBe(`latentfarm-coordinator:${String(workerSvcPort)}`);
    // One certificate per pod, naming the pod, and the worker's id is the pod name: the coordinator admits exactly that.
    const wv = volumeOf(wc, w, wenv['LATENTFARM_TLS_CERT'] ?? '');
    expect(wv?.csi?.driver).toBe('csi.cert-manager.io');
    expect(wv?.csi?.volumeAttributes?.['csi.cert-manager.io/common-name']).toBe('${POD_NAME}');
    for (const k of ['LATENTFARM_TLS_KEY', 'LATENTFARM_TLS_CA']) expect(volumeOf(wc, w, wenv[k] ?? '')?.name, k).toBe(wv?.name);
    expect(wc.env?.find((e) => e.name === 'LATENTFARM_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    // Only workers reach the worker port; workers need nothing of the client port.
    const np = ofKind<INetworkPolicy>(objs, 'NetworkPolicy').find((n) => n.metadata.name === 'latentfarm-coordinator');
    const rulesFor = (port: number) => (np?.spec?.ingress ?? []).filter((r) => (r.ports ?? []).some((p) => p.port === port));
    expect(rulesFor(config.workerPort).flatMap((r) => r.from ?? [])).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/component': 'worker' } } }]);
    expect(rulesFor(config.port).flatMap((r) => r.from ?? []).filter((f) => f.podSelector?.matchLabels?.['app.kubernetes.io/component'] === 'worker')).toEqual([]);
  });

  it.each(['kubernetes/overlays/production', 'kubernetes/overlays/production-hpa'])('%s: API keys on, the first admin key from a Secret mounted read-only; workers use their certificate', (overlay) => {
    const coord = deployment(overlay, 'latentfarm-coordinator');
    const cc = container(coord);
    const env = envOf(cc);
    expect(env['LATENTFARM_NO_AUTH'], 'LATENTFARM_NO_AUTH').toBeUndefined();
    const config = compileCoordinatorConfig(parseOptions(coordinatorOptions, [], env).values);
    expect(config.noAuth).toBe(false);
    // The admin key file is inside a read-only mount of a Secret that must exist (not optional).
    const file = config.adminKeyFile;
    expect(file).not.toBe('');
    const mount = (cc.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`));
    expect(mount, `a mount holding ${file}`).toBeDefined();
    expect(mount?.readOnly, `${mount?.name ?? ''} read-only`).toBe(true);
    const volume = coord.spec?.template.spec?.volumes?.find((v) => v.name === mount?.name);
    expect(volume?.secret?.secretName).toBe('latentfarm-admin-key');
    expect(volume?.secret?.optional ?? false, 'the Secret is required').toBe(false);
    // The Secret's key is the file's name (a Secret volume writes one file per key).
    expect(file.slice((mount?.mountPath.length ?? 0) + 1)).toBe('admin.key');
    // Workers carry no key: on the mTLS worker port their certificate is their credential.
    const wenv = envOf(container(deployment(overlay, 'latentfarm-worker')));
    expect(wenv['LATENTFARM_API_KEY']).toBeUndefined();
    expect(wenv['LATENTFARM_TLS_CERT']).toBeTruthy();
  });

  it('dev: no API keys (one namespace, reached in-cluster or by port-forward; overlays/dev/coordinator-no-auth.yaml)', () => {
    const env = envOf(container(deployment('kubernetes/overlays/dev', 'latentfarm-coordinator')));
    const config = compileCoordinatorConfig(parseOptions(coordinatorOptions, [], env).values);
    expect(config.noAuth).toBe(true);
    expect(config.adminKeyFile).toBe('');
    // Its workers dial the plaintext port without a key or certificate, which only a farm without keys admits.
    const wenv = envOf(container(deployment('kubernetes/overlays/dev', 'latentfarm-worker')));
    expect(wenv['LATENTFARM_API_KEY']).toBeUndefined();
    expect(wenv['LATENTFARM_TLS_CERT']).toBeUndefined();
    // The base alone turns nothing off: no keys is the dev overlay's choice, not a default production inherits.
    expect(readFileSync(`${deployDir}/kubernetes/base/coordinator.yaml`, 'utf8')).not.toMatch(/name: LATENTFARM_NO_AUTH\b/);
  });

  it('production: KEDA scales the model\'s workers from zero on metrics the coordinator exports, for the model they serve', () => {
    const objs = objectsOf('kubernetes/overlays/production');
    const [so] = ofKind<IScaledObject>(objs, 'ScaledObject');
    expect(so?.spec.minReplicaCount).toBe(0);
    const trigger = so?.spec.triggers[0];
    expect(trigger?.type).toBe('prometheus');
    const query = String(trigger?.metadata['query'] ?? '');
    const exported = new Set([...readFileSync(`${deployDir}/../coordinator/src/metrics.ts`, 'utf8').matchAll(/name: '(latentfarm_[a-z_]+)'/g)].map((m) => m[1]));
    const used = [...query.matchAll(/latentfarm_[a-z_]+/g)].map((m) => m[0]);
    expect(used.length).toBeGreaterThan(0);
    for (const m of used) expect(exported, `the query's ${m}`).toContain(m);
    const workerEnv = envOf(container(deployment('kubernetes/overlays/production', 'latentfarm-worker')));
    const model = (workerEnv['LATENTFARM_MODEL_DIR'] ?? '').split('/').pop() ?? '';
    for (const m of query.matchAll(/model="([^"]+)"/g)) expect(m[1]).toBe(model);
  });

  it('production: the KEDA query is valid PromQL (promtool check rules)', async () => {
    if (!onPath('promtool')) throw new Error('promtool not on the PATH: apt-get install prometheus (.ci/run does)');
    const [so] = ofKind<IScaledObject>(objectsOf('kubernetes/overlays/production'), 'ScaledObject');
    const query = String(so?.spec.triggers[0]?.metadata['query'] ?? '');
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'keda-query.yaml');
      await writeFile(file, JSON.stringify({ groups: [{ name: 'keda', rules: [{ record: 'latentfarm:keda_demand', expr: query }] }] }));
      const check = await runProgram('promtool', ['check', 'rules', file]);
      expect(check.output).toContain('SUCCESS');
      expect(check.code).toBe(0);
    } finally {
      await dir.remove();
    }
  });

  it('prometheus/operator: the PrometheusRule is alerts.yaml (regenerate with npm run deploy:rules)', () => {
    expect(readFileSync(prometheusRulePath, 'utf8')).toBe(expectedPrometheusRule());
  });
});
