// Baseline for terapi's P1 benchmark: Nango's execution model for one action invocation,
// a fresh `vm.Script` compiled and a fresh `vm.createContext` per task, running the
// JavaScript equivalent of the no-op action (return the input).
//
// Usage: node node_vm_baseline.js <iterations> [memory_runs]
// Prints one JSON object: per-invocation latency percentiles in microseconds, and, when
// memory_runs is given, the RSS growth per task over that many sequential tasks.
'use strict';
const vm = require('node:vm');

const iterations = Number(process.argv[2] || 20000);
const memoryRuns = Number(process.argv[3] || 0);

// What Nango wraps around a script: an exports object and a context exposing the SDK.
const source = `
  const exports = {};
  exports.default = async function runAction(nango, input) { return input; };
  exports.default(nango, input);
`;

async function invoke(input) {
  const script = new vm.Script(source, { filename: 'action.js' });
  const context = vm.createContext({ nango: { getConnection() { return {}; } }, input, console });
  return await script.runInContext(context);
}

function percentile(sorted, p) {
  const index = Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length));
  return sorted[index];
}

async function main() {
  const input = { n: 1 };
  for (let i = 0; i < 500; i++) await invoke(input); // warm-up
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    const output = await invoke(input);
    samples[i] = Number(process.hrtime.bigint() - start) / 1000;
    if (output.n !== 1) throw new Error('wrong output');
  }
  samples.sort();
  const result = {
    iterations,
    p50_us: percentile(samples, 50),
    p99_us: percentile(samples, 99),
    mean_us: samples.reduce((a, b) => a + b, 0) / iterations,
  };
  if (memoryRuns > 0) {
    if (global.gc) global.gc();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < memoryRuns; i++) await invoke(input);
    if (global.gc) global.gc();
    const after = process.memoryUsage().rss;
    result.memory_runs = memoryRuns;
    result.rss_growth_bytes_per_task = (after - before) / memoryRuns;
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error) + '\n');
  process.exit(1);
});
