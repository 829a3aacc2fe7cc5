// A stand-in for caretid's agent routes (docs/api/agent.md "Agent
// sessions"), for testing how caretictl agent prints a turn's events and
// answers approvals, with every event chosen by the test.  Not a daemon:
// the integration tests drive the real one.
//
//   node fake_agent.mjs SOCKET SCRIPT.json
//
// SCRIPT is {"turns": [[[event, data], ...], ...], "session": {...}?,
// "changes": [...]?, "undo": {...}?}: each POST .../messages plays the next
// turn.  An "approval" event waits until POST .../approvals/{call} (its
// answer is sent back as approval_decision); a ["_hold", {}] waits until
// POST .../cancel, then plays the rest.  GET /_fake/log lists the requests.
// POST /api/show finds any model.
import http from 'node:http';
import fs from 'node:fs';

const [sock, scriptFile] = process.argv.slice(2);
const script = JSON.parse(fs.readFileSync(scriptFile, 'utf8'));
const log = [];
let turn = 0;
let waiting = null; // resolves with the approval's answer, or the cancel
let session = script.session || null;

const json = (res, status, body) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

async function play(res, events) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  for (const [event, data] of events) {
    if (event === '_hold') {
      await new Promise((resolve) => { waiting = resolve; });
      continue;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (event === 'approval') {
      const answer = await new Promise((resolve) => { waiting = resolve; });
      if (answer.cancel) break;
      res.write(`event: approval_decision\ndata: ${JSON.stringify({ call: data.call, ...answer })}\n\n`);
    }
  }
  res.end();
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    const body = raw ? JSON.parse(raw) : null;
    const u = req.url;
    // caretictl's check that -m names a model (not logged: the tests
    // read the agent routes' requests from the first one).
    if (u === '/api/show' && req.method === 'POST') return json(res, 200, { model: body.model });
    log.push({ method: req.method, url: req.url, body });
    if (u === '/_fake/log') return json(res, 200, log);
    if (u === '/careti/v1/sessions' && req.method === 'POST') {
      session = { id: 'f00dcafe', settings: {}, ...body };
      return json(res, 201, session);
    }
    let m = u.match(/^\/careti\/v1\/sessions\/([^/]+)(\/.*)?$/);
    if (!m) return json(res, 404, { error: { message: 'no route' } });
    const rest = m[2] || '';
    if (!session || !session.id.startsWith(m[1])) return json(res, 404, { error: { message: `no session ${m[1]}` } });
    if (rest === '' && req.method === 'GET') return json(res, 200, session);
    if (rest === '' && req.method === 'PATCH') { Object.assign(session, body); return json(res, 200, session); }
    if (rest === '/messages') return play(res, script.turns[turn++] || []);
    if ((m = rest.match(/^\/approvals\/(.+)$/))) {
      if (!waiting) return json(res, 404, { error: { message: 'no approval waits' } });
      const w = waiting; waiting = null;
      w({ decision: body.decision, ...(body.feedback ? { feedback: body.feedback } : {}) });
      return json(res, 200, { session: session.id, call: decodeURIComponent(m[1]), decision: body.decision });
    }
    if (rest === '/cancel') {
      if (waiting) { const w = waiting; waiting = null; w({ cancel: true }); }
      return json(res, 200, { status: 'interrupted' });
    }
    if (rest === '/changes') return json(res, 200, { changes: script.changes || [] });
    if (rest === '/undo') return script.undo ? json(res, 200, script.undo) : json(res, 404, { error: { message: 'nothing to undo' } });
    return json(res, 404, { error: { message: 'no route' } });
  });
});
server.listen(sock, () => console.log('ready'));
