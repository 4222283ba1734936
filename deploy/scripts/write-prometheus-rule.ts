// Writes prometheus/operator/prometheus-rule.yaml from prometheus/alerts.yaml.
import { writeFileSync } from 'node:fs';
import { expectedPrometheusRule, prometheusRulePath } from '../test/prometheus-rule.js';

writeFileSync(prometheusRulePath, expectedPrometheusRule());
