// deploy/prometheus/operator/prometheus-rule.yaml is alerts.yaml wrapped in a
// PrometheusRule: one source of truth for the rules, two ways to load them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

export const alertsPath = fileURLToPath(new URL('../prometheus/alerts.yaml', import.meta.url));
export const prometheusRulePath = fileURLToPath(new URL('../prometheus/operator/prometheus-rule.yaml', import.meta.url));

const HEADER = `# Generated from ../alerts.yaml by \`npm run deploy:rules\`; edit alerts.yaml, not this file
# (deploy/test/kubernetes.test.ts fails when the two differ). What each alert
# means and what to do: deploy/README.md, "Alerts".
`;

export function prometheusRuleYaml(alertsYaml: string): string {
  const { groups } = parse(alertsYaml) as { groups: unknown };
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'latentfarm' },
    spec: { groups },
  };
  return HEADER + stringify(rule, { lineWidth: 0 });
}

export const expectedPrometheusRule = (): string => prometheusRuleYaml(readFileSync(alertsPath, 'utf8'));
