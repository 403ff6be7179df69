'use strict';
/*
 * operations.js: hooks of the blueprint group "Operations"
 * (docs/api/src/90-operations.apib).
 */

// One line of the Prometheus text exposition format 0.0.4.
const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABELS = '\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*\\}';
const VALUE = '(?:[-+]?(?:[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf)|NaN)';
const SAMPLE = new RegExp(`^(${METRIC_NAME})(?:${LABELS})? ${VALUE}(?: -?[0-9]+)?$`);
const HELP = new RegExp(`^# HELP (${METRIC_NAME}) .*$`);
const TYPE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`);

// name -> type of every "# TYPE" line.
function families(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = TYPE.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

module.exports = function (h) {
  h.after('Operations > Documentation > Read the documentation', (t) => {
    if (!(t.real.body || '').includes('<title>Open Event Server API</title>')) {
      t.fail = 'GET /docs did not return the API page';
    }
  });

  h.skip(
    'Operations > Health Check > Check health > Example 2',
    'needs PostgreSQL down while the server runs; test/integration/test_health.py stops the ' +
      'database, expects this 503 within 5 s and 200 again after a restart',
  );

  // The body is text: Gavel would compare it byte for byte with the
  // example. Check it here instead: every line is valid exposition format,
  // and every metric family of the example exists with the same type.
  h.beforeValidation('Operations > Metrics > Read metrics', (t) => {
    const real = t.real.body || '';
    const problems = [];
    real.split('\n').forEach((line, i) => {
      if (line === '' || HELP.test(line) || TYPE.test(line) || SAMPLE.test(line)) return;
      if (line.startsWith('#') && !line.startsWith('# HELP') && !line.startsWith('# TYPE')) return;
      problems.push(`line ${i + 1} is not exposition format: ${JSON.stringify(line)}`);
    });
    const have = families(real);
    for (const [name, type] of families(t.expected.body || '')) {
      if (!have.has(name)) problems.push(`metric family ${name} is missing`);
      else if (have.get(name) !== type) problems.push(`metric ${name} is a ${have.get(name)}, not a ${type}`);
    }
    if (problems.length) {
      t.fail = `metrics: ${problems.slice(0, 5).join('; ')}`;
    }
    t.expected.body = real;
  });
};
