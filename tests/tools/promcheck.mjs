// promcheck: validate Prometheus text exposition (format 0.0.4) read from
// stdin, as `promtool check metrics` would for what caretid emits: HELP
// and TYPE before samples, names and labels well formed, values numeric,
// every sample belonging to a declared family, histogram buckets
// cumulative and ending in +Inf equal to _count.  Exit 1 with the first
// problem on stderr.
let text = '';
process.stdin.on('data', (d) => { text += d; }).on('end', () => {
  const types = new Map();
  const buckets = new Map();
  const counts = new Map();
  const fail = (n, msg) => { console.error(`line ${n}: ${msg}`); process.exit(1); };
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') fail(lines.length, 'the exposition must end with a newline');
  lines.forEach((line, i) => {
    const n = i + 1;
    if (line === '') return;
    let m;
    if ((m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/))) return;
    if ((m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/))) {
      if (types.has(m[1])) fail(n, `TYPE for ${m[1]} given twice`);
      types.set(m[1], m[2]);
      return;
    }
    if (line.startsWith('#')) fail(n, `bad comment line: ${line}`);
    m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$/);
    if (!m) fail(n, `bad sample line: ${line}`);
    const [, name, , labels = ''] = m;
    const value = Number(m[4] === '+Inf' ? Infinity : m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') fail(n, `bad value ${m[4]}`);
    const pairs = {};
    if (labels) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/g;
      let consumed = 0, p;
      while ((p = re.exec(labels)) !== null) { pairs[p[1]] = p[2]; consumed = re.lastIndex; }
      if (consumed !== labels.length) fail(n, `bad labels: ${labels}`);
    }
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    const type = types.get(family);
    if (!type) fail(n, `sample ${name} has no TYPE`);
    if (type === 'counter' && value < 0) fail(n, 'negative counter');
    if (type === 'histogram' && name.endsWith('_bucket')) {
      if (!('le' in pairs)) fail(n, 'bucket without le');
      const key = family + JSON.stringify(Object.entries(pairs).filter(([k]) => k !== 'le'));
      const list = buckets.get(key) || [];
      list.push([pairs.le === '+Inf' ? Infinity : Number(pairs.le), value, n]);
      buckets.set(key, list);
    }
    if (type === 'histogram' && name.endsWith('_count')) counts.set(family + JSON.stringify(Object.entries(pairs)), value);
  });
  for (const [key, list] of buckets) {
    for (let i = 1; i < list.length; i++) {
      if (list[i][0] <= list[i - 1][0]) fail(list[i][2], 'bucket bounds must increase');
      if (list[i][1] < list[i - 1][1]) fail(list[i][2], 'buckets must be cumulative');
    }
    const last = list[list.length - 1];
    if (last[0] !== Infinity) fail(last[2], 'histogram must end with le="+Inf"');
    const family = key.slice(0, key.indexOf('['));
    const count = counts.get(family + key.slice(key.indexOf('[')));
    if (count !== undefined && count !== last[1]) fail(last[2], '+Inf bucket must equal _count');
  }
  console.log(`ok: ${types.size} metric families`);
});
