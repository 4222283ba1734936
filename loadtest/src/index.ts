export { runLoadtest, formatReport, writeReport, loadtestOptions, type LoadtestConfig, type Report } from './loadtest.js';
export { histogramQuantile, parse as parsePrometheusText } from './prom-text.js';
