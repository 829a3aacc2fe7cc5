// `caretictl acp` driven by clients nobody here wrote: the official ACP
// SDK's ClientSideConnection (as an editor would), a property test of
// malformed and out-of-order JSON-RPC, and the acpx command-line client.
// Every line the bridge writes is checked against the SDK's schema: it
// must parse, and parsing must keep every field (an unknown or invalid
// field is dropped by the schema, so it shows as missing after).
// Prints one "ok - NAME" or "not ok - NAME: why" line per check.
//
// Environment: CARETICTL, CARETID, CARETI_SOCKET, CARETI_CONFIG, EMU (the
// ollama emulator's URL), WORK (a private directory), PIDFILE (where the
// pid of a daemon this script restarts goes, for the caller to stop).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import * as acp from '@agentclientprotocol/sdk';

// The SDK's zod schemas are not among its exports; the file is in the
// pinned package (package-lock.json).
const v = await import(new URL('./node_modules/@agentclientprotocol/sdk/dist/schema/zod.gen.js', import.meta.url));

const { CARETICTL, CARETID, CARETI_SOCKET: SOCK, CARETI_CONFIG, EMU, WORK, PIDFILE } = process.env;
let failed = 0;
function ok(name) { console.log(`ok - ${name}`); }
function notOk(name, why) { failed++; console.log(`not ok - ${name}: ${String(why).slice(0, 600).replace(/\n/g, ' | ')}`); }
async function check(name, fn) {
  try { await fn(); ok(name); } catch (e) { notOk(name, e?.stack || e); }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
function eq(a, b, what) {
  const ja = JSON.stringify(a), jb = JSON.stringify(b);
  if (ja !== jb) throw new Error(`${what}: expected ${jb.slice(0, 300)}, got ${ja.slice(0, 300)}`);
}
const sleepTick = () => new Promise((r) => setImmediate(r));
// Poll COND every 20 ms until it holds or MS pass.
async function until(cond, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await cond();
    if (r) return r;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

// The daemon's HTTP API over its socket.
function api(method, p, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: SOCK, path: p, method, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(data); } catch { /* SSE or empty */ }
        resolve({ status: res.statusCode, json, text: data });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
function emu(p, body) {
  return fetch(`${EMU}${p}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json());
}

// ---- schema validation of what the bridge sends -------------------------

const responseSchemas = {
  initialize: v.zInitializeResponse,
  authenticate: v.zAuthenticateResponse,
  'session/new': v.zNewSessionResponse,
  'session/load': v.zLoadSessionResponse,
  'session/prompt': v.zPromptResponse,
  'session/set_mode': v.zSetSessionModeResponse,
  'session/set_config_option': v.zSetSessionConfigOptionResponse,
  // A notification in ACP; sent as a request, it is answered with null.
  'session/cancel': { safeParse: (x) => (x === null ? { success: true, data: x } : { success: false, error: { message: 'not null' } }) },
};
const requestSchemas = { 'session/request_permission': v.zRequestPermissionRequest };
const notificationSchemas = { 'session/update': v.zSessionNotification };

// Paths of INPUT that PARSED lacks: fields the schema does not know, or
// whose value it rejected and dropped.
function dropped(input, parsed, at = '') {
  const out = [];
  if (Array.isArray(input)) {
    if (!Array.isArray(parsed) || parsed.length !== input.length) return [`${at} (array changed)`];
    input.forEach((x, i) => out.push(...dropped(x, parsed[i], `${at}[${i}]`)));
  } else if (input && typeof input === 'object') {
    if (!parsed || typeof parsed !== 'object') return [`${at} (object dropped)`];
    for (const k of Object.keys(input)) {
      if (!(k in parsed) || (parsed[k] === undefined && input[k] !== undefined)) out.push(`${at}.${k}`);
      else out.push(...dropped(input[k], parsed[k], `${at}.${k}`));
    }
  }
  return out;
}

// Check one message the bridge wrote; SENT maps our request ids to methods.
// Returns a problem, or null.
function validate(msg, sent) {
  const keys = Object.keys(msg).sort().join(',');
  if (msg.jsonrpc !== '2.0') return 'jsonrpc is not "2.0"';
  let schema, value;
  if ('method' in msg) {
    if ('id' in msg) {
      if (keys !== 'id,jsonrpc,method,params') return `request keys ${keys}`;
      schema = requestSchemas[msg.method];
    } else {
      if (keys !== 'jsonrpc,method,params') return `notification keys ${keys}`;
      schema = notificationSchemas[msg.method];
    }
    if (!schema) return `the bridge sent an unknown method ${msg.method}`;
    value = msg.params;
  } else if ('error' in msg) {
    if (keys !== 'error,id,jsonrpc') return `error keys ${keys}`;
    schema = v.zError;
    value = msg.error;
    if (!Number.isInteger(msg.error.code)) return 'error code is not an integer';
  } else {
    if (keys !== 'id,jsonrpc,result') return `response keys ${keys}`;
    const method = sent.get(msg.id);
    schema = responseSchemas[method];
    if (!schema) return `a result for id ${msg.id}, which asked ${method}`;
    value = msg.result;
  }
  const r = schema.safeParse(value);
  if (!r.success) return `schema: ${r.error.message.slice(0, 300)}`;
  const lost = dropped(value, r.data);
  if (lost.length) return `fields the schema does not accept: ${lost.join(' ')}`;
  return null;
}

// ---- one bridge under the SDK --------------------------------------------

// Spawn `caretictl acp` and connect the SDK's ClientSideConnection to it.
// Everything it writes is validated; updates collect in `updates`.
function startBridge(handlers = {}, args = []) {
  const child = spawn(CARETICTL, ['--socket', SOCK, 'acp', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const b = { child, updates: [], problems: [], sent: new Map(), lines: [], stderr: '' };
  child.stderr.on('data', (c) => { b.stderr += c; });
  let buf = '';
  const toSdk = new ReadableStream({
    start(controller) {
      child.stdout.on('data', (chunk) => {
        buf += chunk.toString('utf8');
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          b.lines.push(line);
          let msg;
          try { msg = JSON.parse(line); } catch { b.problems.push(`not JSON: ${line.slice(0, 100)}`); continue; }
          const p = validate(msg, b.sent);
          if (p) b.problems.push(`${p} in ${line.slice(0, 300)}`);
          controller.enqueue(new TextEncoder().encode(line + '\n'));
        }
      });
      child.stdout.on('end', () => { try { controller.close(); } catch { /* closed */ } });
    },
  });
  const fromSdk = new WritableStream({
    write(chunk) {
      for (const line of new TextDecoder().decode(chunk).split('\n').filter(Boolean)) {
        const m = JSON.parse(line);
        if (m.method && 'id' in m) b.sent.set(m.id, m.method);
      }
      return new Promise((res, rej) => child.stdin.write(chunk, (e) => (e ? rej(e) : res())));
    },
    close() { child.stdin.end(); },
  });
  const client = {
    async sessionUpdate(n) { b.updates.push(n); },
    async requestPermission(p) {
      b.permissionRequests = (b.permissionRequests || 0) + 1;
      if (b.onPermission) return b.onPermission(p);
      if (handlers.requestPermission) return handlers.requestPermission(p);
      return { outcome: { outcome: 'selected', optionId: 'allow_once' } };
    },
    async readTextFile() { throw new Error('not advertised'); },
    async writeTextFile() { throw new Error('not advertised'); },
  };
  b.conn = new acp.ClientSideConnection(() => client, acp.ndJsonStream(fromSdk, toSdk));
  b.stop = async () => {
    child.stdin.end();
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
  };
  return b;
}

const texts = (updates, kind) => updates.filter((u) => u.update.sessionUpdate === kind).map((u) => u.update.content.text).join('');
const cwd = fs.realpathSync(WORK);

// The daemon's agent sessions (docs/api/agent.md) are what the bridge serves.
const probe = await api('POST', '/careti/v1/sessions', { mode: 'act', workspace: cwd });
if (probe.status === 201) await api('DELETE', `/careti/v1/sessions/${probe.json.id}`);
else notOk('the daemon has agent sessions', `POST /careti/v1/sessions with mode act: ${probe.status} ${probe.text}`);

const b = startBridge();
let init;
await check('initialize: protocol 1, loadSession, text and embedded context, no auth methods', async () => {
  init = await b.conn.initialize({ protocolVersion: acp.PROTOCOL_VERSION, clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false } });
  eq(init.protocolVersion, 1, 'protocolVersion');
  assert(init.agentCapabilities.loadSession === true, 'loadSession');
  assert(init.agentCapabilities.promptCapabilities.embeddedContext === true, 'embeddedContext');
  assert(init.agentCapabilities.promptCapabilities.image === false, 'image');
  eq(init.authMethods, [], 'authMethods');
  eq(init.agentInfo.name, 'caretid', 'agentInfo.name');
});
await check('authenticate: nothing to do', async () => {
  const r = await b.conn.authenticate({ methodId: 'none' });
  eq(r, {}, 'answer');
});

// A chat session with one turn, made over HTTP as `caretictl chat` would.
const chat = await api('POST', '/careti/v1/sessions', { workspace: cwd });
await api('POST', `/careti/v1/sessions/${chat.json.id}/messages`, { content: 'first words' });
const stored = (await api('GET', `/careti/v1/sessions/${chat.json.id}`)).json;

await check('session/load replays the stored history before answering', async () => {
  b.updates.length = 0;
  const r = await b.conn.loadSession({ sessionId: chat.json.id, cwd, mcpServers: [] });
  const mine = b.updates.filter((u) => u.sessionId === chat.json.id);
  eq(texts(mine, 'user_message_chunk'), stored.messages.filter((m) => m.role === 'user').map((m) => m.content).join(''), 'user text');
  eq(texts(mine, 'agent_message_chunk'), stored.messages.filter((m) => m.role === 'assistant').map((m) => m.content).join(''), 'agent text');
  eq(r.modes.currentModeId, stored.mode || 'chat', 'current mode');
  const model = r.configOptions.find((o) => o.id === 'model');
  assert(model && model.type === 'select' && model.currentValue === 'default', `model option ${JSON.stringify(model)}`);
  assert(model.options.some((o) => /^llama3\.2/.test(o.value)), 'the daemon\'s models are offered');
  await until(() => b.updates.some((u) => u.sessionId === chat.json.id && u.update.sessionUpdate === 'available_commands_update'), 5000, 'available commands');
});
await check('session/load of an unknown session: resource not found', async () => {
  try {
    await b.conn.loadSession({ sessionId: 'ffffffff', cwd, mcpServers: [] });
    throw new Error('it loaded');
  } catch (e) {
    eq(e.code, -32002, 'code');
    assert(/no session/.test(e.message), e.message);
  }
});
await check('session/prompt streams the reply and ends end_turn', async () => {
  b.updates.length = 0;
  const r = await b.conn.prompt({ sessionId: chat.json.id, prompt: [{ type: 'text', text: 'second words' }, { type: 'resource_link', uri: `file://${cwd}/a.c`, name: 'a.c' }] });
  eq(r.stopReason, 'end_turn', 'stopReason');
  const s = (await api('GET', `/careti/v1/sessions/${chat.json.id}`)).json;
  const last = s.messages[s.messages.length - 1];
  eq(texts(b.updates, 'agent_message_chunk'), last.content, 'streamed text = stored reply');
  eq(s.messages[s.messages.length - 2].content, `second words @file://${cwd}/a.c`, 'the prompt as sent');
});
await check('session/set_config_option sets the session\'s model', async () => {
  const r = await b.conn.setSessionConfigOption({ sessionId: chat.json.id, configId: 'model', value: 'llama3.2' });
  eq(r.configOptions[0].currentValue, 'llama3.2', 'currentValue');
  eq((await api('GET', `/careti/v1/sessions/${chat.json.id}`)).json.model, 'llama3.2', 'stored model');
  await b.conn.setSessionConfigOption({ sessionId: chat.json.id, configId: 'model', value: 'default' });
  eq((await api('GET', `/careti/v1/sessions/${chat.json.id}`)).json.model, null, 'back to the default');
});
await check('a second prompt while one runs is refused; session/cancel ends the first "cancelled"', async () => {
  await emu('/_emu/fault', { slow_ms: 200 });
  b.updates.length = 0;
  const running = b.conn.prompt({ sessionId: chat.json.id, prompt: [{ type: 'text', text: 'one two three four five six seven eight nine ten' }] });
  await until(() => b.updates.some((u) => u.update.sessionUpdate === 'agent_message_chunk'), 10000, () => `a first chunk (${b.lines.slice(-2).join(' ').slice(-300)}; stderr: ${b.stderr})`);
  try {
    await b.conn.prompt({ sessionId: chat.json.id, prompt: [{ type: 'text', text: 'me too' }] });
    throw new Error('the second prompt ran');
  } catch (e) { eq(e.code, -32600, 'second prompt error code'); }
  await b.conn.cancel({ sessionId: chat.json.id });
  eq((await running).stopReason, 'cancelled', 'stopReason');
  await emu('/_emu/fault', {});
  const s = (await api('GET', `/careti/v1/sessions/${chat.json.id}`)).json;
  eq(s.messages[s.messages.length - 1].status, 'interrupted', 'stored reply');
});
await check('a turn cancelled by another client ends the prompt with an error that says so', async () => {
  await emu('/_emu/fault', { slow_ms: 200 });
  b.updates.length = 0;
  const running = b.conn.prompt({ sessionId: chat.json.id, prompt: [{ type: 'text', text: 'one two three four five six seven eight nine ten' }] });
  await until(() => b.updates.some((u) => u.update.sessionUpdate === 'agent_message_chunk'), 10000, 'a first chunk');
  eq((await api('POST', `/careti/v1/sessions/${chat.json.id}/cancel`)).status, 200, 'cancel over HTTP');
  let err;
  try { await running; } catch (e) { err = e; }
  await emu('/_emu/fault', {});
  assert(err && /stopped outside this editor/.test(err.message), `prompt answer: ${err?.message}`);
});
await check('session/new: an act session on cwd, with modes act and plan', async () => {
  const r = await b.conn.newSession({ cwd, mcpServers: [] });
  eq(r.modes.currentModeId, 'act', 'current mode');
  eq(r.modes.availableModes.map((m) => m.id), ['act', 'plan'], 'modes');
  const s = (await api('GET', `/careti/v1/sessions/${r.sessionId}`)).json;
  eq([s.mode, s.workspace], ['act', cwd], 'stored mode and workspace');
});

// ---- the agent: tool calls, permissions, cancel, load, modes ------------

const script = (replies) => emu('/_emu/script', { replace: true, replies });
const mineOf = (sid) => b.updates.filter((u) => u.sessionId === sid).map((u) => u.update);
// The last status a call was given, through its tool_call and updates.
const finalStatus = (ups, id) => ups.filter((u) => u.toolCallId === id && u.status).map((u) => u.status).pop();
const READ = '<read_file>\n<path>src/main.c</path>\n</read_file>';
const EDIT = '<replace_in_file>\n<path>src/main.c</path>\n<diff>\n------- SEARCH\n    return 1;\n=======\n    return 0;\n+++++++ REPLACE\n</diff>\n</replace_in_file>';
const DONE = '<attempt_completion>\n<result>main now returns 0.</result>\n</attempt_completion>';
fs.mkdirSync(path.join(cwd, 'src'), { recursive: true });
fs.writeFileSync(path.join(cwd, 'src/main.c'), 'int main(void)\n{\n    return 1;\n}\n');
const SID = (await b.conn.newSession({ cwd, mcpServers: [] })).sessionId;
const mainC = path.join(cwd, 'src/main.c');

await check('a prompt reads, edits (allowed once) and runs a command (rejected once), then ends end_turn', async () => {
  await script([{ content: `I will read it.\n${READ}`, chunk_bytes: 7 }, { content: EDIT }, { content: '<execute_command>\n<command>echo ran > ran.txt</command>\n</execute_command>' }, { content: DONE }]);
  const asked = [];
  b.onPermission = (p) => { asked.push(p); return { outcome: { outcome: 'selected', optionId: p.toolCall.kind === 'edit' ? 'allow_once' : 'reject_once' } }; };
  b.updates.length = 0;
  const r = await b.conn.prompt({ sessionId: SID, prompt: [{ type: 'text', text: 'make main return 0' }] });
  eq(r.stopReason, 'end_turn', 'stopReason');
  const ups = mineOf(SID);
  const calls = ups.filter((u) => u.sessionUpdate === 'tool_call');
  eq(calls.map((c) => c.kind), ['read', 'edit', 'execute'], 'kinds');
  eq([calls[0].title, calls[0].locations[0].path], ['Read src/main.c', mainC], 'the read\'s title and location');
  eq(calls.map((c) => finalStatus(ups, c.toolCallId)), ['completed', 'completed', 'failed'], 'final statuses');
  const diff = ups.filter((u) => u.toolCallId === calls[1].toolCallId && u.content).flatMap((u) => u.content).find((c) => c.type === 'diff');
  assert(diff, 'the edit\'s result has a diff block');
  eq([diff.path, diff.oldText, diff.newText], [mainC, 'int main(void)\n{\n    return 1;\n}\n', 'int main(void)\n{\n    return 0;\n}\n'], 'the diff block');
  eq(asked.map((p) => p.toolCall.kind), ['edit', 'execute'], 'permission asked for');
  eq(asked[0].options.map((o) => o.kind), ['allow_once', 'allow_always', 'reject_once', 'reject_always'], 'options');
  eq(asked[0].toolCall.content?.[0]?.type, 'diff', 'the request shows the edit');
  assert(fs.readFileSync(mainC, 'utf8').includes('return 0;'), 'the file was edited');
  assert(!fs.existsSync(path.join(cwd, 'ran.txt')), 'the rejected command did not run');
  eq(texts(b.updates.filter((u) => u.sessionId === SID), 'agent_message_chunk'), 'I will read it.\n\nmain now returns 0.', 'the agent\'s message');
});

await check('allow_always is remembered by the daemon, reject_always sets the category to deny', async () => {
  const WRITE = (f) => `<write_to_file>\n<path>${f}</path>\n<content>\nhello\n</content>\n</write_to_file>`;
  const RUN = '<execute_command>\n<command>echo ran > ran.txt</command>\n</execute_command>';
  let asked = 0;
  b.onPermission = (p) => { asked++; return { outcome: { outcome: 'selected', optionId: p.toolCall.kind === 'edit' ? 'allow_always' : 'reject_always' } }; };
  await script([{ content: WRITE('b.txt') }, { content: RUN }, { content: DONE }]);
  eq((await b.conn.prompt({ sessionId: SID, prompt: [{ type: 'text', text: 'write b' }] })).stopReason, 'end_turn', 'stopReason');
  eq(asked, 2, 'asked twice');
  const s = (await api('GET', `/careti/v1/sessions/${SID}`)).json;
  eq([s.settings.approvals.edit, s.settings.approvals.command], ['auto', 'deny'], 'the session\'s policy');
  // The next turn asks nothing: the edit runs, the command is denied.
  await script([{ content: WRITE('c.txt') }, { content: RUN }, { content: DONE }]);
  b.updates.length = 0;
  eq((await b.conn.prompt({ sessionId: SID, prompt: [{ type: 'text', text: 'write c' }] })).stopReason, 'end_turn', 'stopReason');
  eq(asked, 2, 'nothing more asked');
  const ups = mineOf(SID);
  const calls = ups.filter((u) => u.sessionUpdate === 'tool_call');
  eq(calls.map((c) => [c.kind, finalStatus(ups, c.toolCallId)]), [['edit', 'completed'], ['execute', 'failed']], 'edit allowed, command denied');
  assert(fs.existsSync(path.join(cwd, 'c.txt')) && !fs.existsSync(path.join(cwd, 'ran.txt')), 'what ran on disk');
});

let SID2;
await check('session/cancel during a command ends the prompt cancelled', async () => {
  SID2 = (await b.conn.newSession({ cwd, mcpServers: [] })).sessionId;
  b.onPermission = () => ({ outcome: { outcome: 'selected', optionId: 'allow_once' } });
  await script([{ content: '<execute_command>\n<command>echo started; sleep 30</command>\n</execute_command>' }]);
  b.updates.length = 0;
  const t0 = Date.now();
  const running = b.conn.prompt({ sessionId: SID2, prompt: [{ type: 'text', text: 'run long' }] });
  await until(() => mineOf(SID2).some((u) => u.sessionUpdate === 'tool_call_update' && (u.content || []).some((c) => c.content?.text?.includes('started'))), 15000, 'the command\'s output');
  await b.conn.cancel({ sessionId: SID2 });
  eq((await running).stopReason, 'cancelled', 'stopReason');
  assert(Date.now() - t0 < 20000, 'the command was stopped, not waited for');
});

await check('a permission request answered "cancelled" cancels the turn', async () => {
  b.onPermission = () => ({ outcome: { outcome: 'cancelled' } });
  await script([{ content: '<execute_command>\n<command>echo ran > ran2.txt</command>\n</execute_command>' }]);
  eq((await b.conn.prompt({ sessionId: SID2, prompt: [{ type: 'text', text: 'run' }] })).stopReason, 'cancelled', 'stopReason');
  assert(!fs.existsSync(path.join(cwd, 'ran2.txt')), 'the command did not run');
});

await check('a question ends end_turn with the question as the agent\'s message', async () => {
  await script([{ content: '<ask_followup_question><question>Which file?</question><options>["a.c","b.c"]</options></ask_followup_question>' }]);
  b.updates.length = 0;
  eq((await b.conn.prompt({ sessionId: SID2, prompt: [{ type: 'text', text: 'fix the bug' }] })).stopReason, 'end_turn', 'stopReason');
  eq(texts(b.updates, 'agent_message_chunk'), 'Which file?\n\n- a.c\n- b.c', 'the message');
});

await check('max_steps ends max_turn_requests, saying why', async () => {
  const L = (p) => ({ content: `<list_files><path>${p}</path></list_files>` });
  await script([L('.'), L('src'), { content: READ }, L('.'), L('src'), { content: READ }, L('.')]);
  b.updates.length = 0;
  eq((await b.conn.prompt({ sessionId: SID2, prompt: [{ type: 'text', text: 'wander' }] })).stopReason, 'max_turn_requests', 'stopReason');
  assert(texts(b.updates, 'agent_message_chunk').length > 0, 'the reason is said');
});

await check('a missing model is a JSON-RPC error naming the pull command', async () => {
  // Far from every installed name, so the daemon suggests the pull, not a typo's fix.
  await b.conn.setSessionConfigOption({ sessionId: SID2, configId: 'model', value: 'nosuchmodel:7b' });
  try {
    await b.conn.prompt({ sessionId: SID2, prompt: [{ type: 'text', text: 'hi' }] });
    throw new Error('the prompt ran');
  } catch (e) {
    assert(/not found/.test(e.message) && /ollama pull nosuchmodel:7b/.test(e.message), e.message);
  } finally {
    await b.conn.setSessionConfigOption({ sessionId: SID2, configId: 'model', value: 'default' });
  }
});

await check('session/set_mode plan: the daemon\'s session is in plan mode, and a plan is a plan update', async () => {
  await b.conn.setSessionMode({ sessionId: SID2, modeId: 'plan' });
  eq((await api('GET', `/careti/v1/sessions/${SID2}`)).json.mode, 'plan', 'stored mode');
  await script([{ content: '<plan_mode_respond><response>1. read main.c\n2. change main</response></plan_mode_respond>' }]);
  b.updates.length = 0;
  eq((await b.conn.prompt({ sessionId: SID2, prompt: [{ type: 'text', text: 'plan it' }] })).stopReason, 'end_turn', 'stopReason');
  const plan = b.updates.find((u) => u.update.sessionUpdate === 'plan');
  eq(plan?.update.entries.map((e) => e.content), ['read main.c', 'change main'], 'plan entries');
  try { await b.conn.setSessionMode({ sessionId: SID2, modeId: 'yolo' }); throw new Error('set'); } catch (e) { eq(e.code, -32602, 'an unknown mode'); }
});

await check('session/load replays the agent session as it was stored', async () => {
  const stored = (await api('GET', `/careti/v1/sessions/${SID}`)).json;
  const r = startBridge();
  await r.conn.initialize({ protocolVersion: 1, clientCapabilities: {} });
  const loaded = await r.conn.loadSession({ sessionId: SID, cwd, mcpServers: [] });
  eq(loaded.modes.currentModeId, 'act', 'mode');
  const ups = r.updates.filter((u) => u.sessionId === SID).map((u) => u.update);
  // Every stored call is a tool call (or, for the completion, the message), in order.
  const storedCalls = stored.messages.flatMap((m) => m.tool_calls || []).filter((c) => c.name !== 'attempt_completion');
  const shown = ups.filter((u) => u.sessionUpdate === 'tool_call');
  eq(shown.map((c) => c.toolCallId), storedCalls.map((c) => c.id), 'the calls');
  const results = Object.fromEntries(stored.messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.agent.ok ? 'completed' : 'failed']));
  eq(shown.map((c) => finalStatus(ups, c.toolCallId)), storedCalls.map((c) => results[c.id]), 'their statuses');
  eq(texts(r.updates, 'user_message_chunk'), stored.messages.filter((m) => m.role === 'user' && !m.agent?.correction).map((m) => m.content).join(''), 'the user\'s messages');
  const edit = ups.filter((u) => u.toolCallId === storedCalls[1].id && u.content).flatMap((u) => u.content).find((c) => c.type === 'diff');
  eq(edit && [edit.oldText.includes('return 1;'), edit.newText.includes('return 0;')], [true, true], 'the edit\'s diff, from the stored change');
  assert(r.problems.length === 0, r.problems.join(' || '));
  await r.stop();
});

await check('every message the bridge sent passes the SDK schema, fields and all', async () => {
  assert(b.lines.length > 10, `only ${b.lines.length} lines`);
  assert(b.problems.length === 0, b.problems.join(' || '));
});
await b.stop();

await check('no daemon: a JSON-RPC error saying how to start it', async () => {
  const dir = fs.mkdtempSync(path.join(WORK, 'nodaemon-'));
  fs.chmodSync(dir, 0o700);
  const child = spawn(CARETICTL, ['--socket', path.join(dir, 'caretid.sock'), 'acp'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', () => {});
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 1 } }) + '\n');
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'session/new', params: { cwd, mcpServers: [] } }) + '\n');
  await until(() => out.split('\n').filter(Boolean).length >= 2, 10000, 'two answers');
  child.stdin.end();
  const err = JSON.parse(out.split('\n')[1]).error;
  assert(err && /no caretid running on .*systemctl --user start caretid/.test(err.message), JSON.stringify(err));
});

// ---- the daemon restarts under a running bridge --------------------------

await check('a daemon restart ends the open prompt with an error, and the bridge reconnects', async () => {
  const r = startBridge();
  await r.conn.initialize({ protocolVersion: 1, clientCapabilities: {} });
  await r.conn.loadSession({ sessionId: chat.json.id, cwd, mcpServers: [] });
  await emu('/_emu/fault', { slow_ms: 300 });
  r.updates.length = 0;
  const running = r.conn.prompt({ sessionId: chat.json.id, prompt: [{ type: 'text', text: 'a b c d e f g h i j k l m n o p' }] });
  await until(() => r.updates.some((u) => u.update.sessionUpdate === 'agent_message_chunk'), 10000, 'a first chunk');
  const pid = Number(fs.readFileSync(PIDFILE, 'utf8'));
  process.kill(pid, 'SIGKILL');
  let err;
  try { await running; } catch (e) { err = e; }
  assert(err && /closed the turn's stream/.test(err.message), `prompt answer: ${err?.message}`);
  await emu('/_emu/fault', {});
  const d = spawn(CARETID, ['-c', CARETI_CONFIG, '--socket', SOCK], { stdio: ['ignore', fs.openSync(path.join(WORK, 'restart.log'), 'a'), fs.openSync(path.join(WORK, 'restart.log'), 'a')], detached: true });
  fs.writeFileSync(PIDFILE, String(d.pid));
  d.unref();
  // The same bridge, no restart of its own: its next call reaches the new daemon.
  const loaded = await r.conn.loadSession({ sessionId: chat.json.id, cwd, mcpServers: [] });
  assert(loaded.modes, 'loaded after the restart');
  assert(r.problems.length === 0, r.problems.join(' || '));
  await r.stop();
});

// ---- malformed and out-of-order JSON-RPC (a property test) ---------------

// A seeded generator, so a failure can be replayed (FUZZ_SEED).
let seed = Number(process.env.FUZZ_SEED || Date.now() % 100000);
function rnd(n) { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; }
function pick(a) { return a[rnd(a.length)]; }

// Each case: [line, what must come back]: {id} an error for that id,
// 'null' an error with id null, 'none' nothing.
function randomCase(n) {
  const id = pick([n, `s${n}`]);
  const j = (o) => JSON.stringify(o);
  const cases = [
    () => ['{"jsonrpc":"2.0","id":' + j(id) + ',"method":"initialize"', 'null'], // cut short
    () => ['not json at all ' + n, 'null'],
    () => [j([{ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: 1 } }]), 'null'],
    () => [j({ jsonrpc: '1.0', id, method: 'initialize', params: {} }), { id }],
    () => [j({ id, method: 'initialize', params: {} }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 5 }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'initialize', params: [1, 2] }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: 'one' } }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'no/such_method', params: {} }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: '_careti/extension', params: {} }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'session/prompt', params: { sessionId: 'ffffffff', prompt: [{ type: 'text', text: 'x' }] } }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'session/prompt', params: { sessionId: chat.json.id, prompt: [{ type: 'image', data: '', mimeType: 'image/png' }] } }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'session/prompt', params: { sessionId: chat.json.id, prompt: 'text' } }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'session/set_mode', params: { sessionId: chat.json.id, modeId: 'yolo' } }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'session/set_config_option', params: { sessionId: chat.json.id, configId: 'colour', value: 'red' } }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'session/load', params: { sessionId: 'ffffffff', cwd, mcpServers: [] } }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'session/new', params: { cwd: 'relative/dir', mcpServers: [] } }), { id }],
    () => [j({ jsonrpc: '2.0', id, method: 'session/load' }), { id }],
    () => [j({ jsonrpc: '2.0', id: { no: 1 }, method: 'initialize' }), 'null'],
    () => [j({ jsonrpc: '2.0', id: 424242 + n, result: { outcome: { outcome: 'cancelled' } } }), 'none'], // answers nothing we asked
    () => [j({ jsonrpc: '2.0', id, result: 1, error: { code: 1, message: 'x' } }), { id }],
    () => [j({ jsonrpc: '2.0', method: 'session/cancel', params: { sessionId: 'ffffffff' } }), 'none'],
    () => [j({ jsonrpc: '2.0', id: `cancel${n}`, method: 'session/cancel', params: { sessionId: 'ffffffff' } }), { id: `cancel${n}`, ok: true }],
    () => [j({ jsonrpc: '2.0', method: 'unknown/notification' }), 'none'],
    () => ['{"jsonrpc":"2.0","id":' + j(id) + ',"id":7,"method":"initialize","params":{"protocolVersion":1}}', 'null'], // duplicate key
    () => [Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]).toString('latin1'), 'null'], // not UTF-8
    () => ['['.repeat(5000) + ']'.repeat(5000), 'null'],
    () => [j({ jsonrpc: '2.0', id, method: 'session/prompt', params: { sessionId: 'x'.repeat(200), prompt: [] } }), { id }],
    () => ['"just a string"', 'null'],
  ];
  return pick(cases)();
}

await check('malformed and out-of-order JSON-RPC: an error for each, and it keeps serving', async () => {
  const child = spawn(CARETICTL, ['--socket', SOCK, 'acp'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const startSeed = seed;
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', () => {});
  const expected = [];
  const write = (line) => new Promise((res) => child.stdin.write(Buffer.from(line + '\n', 'latin1'), res));
  // Out of order first: before initialize every request is refused.
  await write(JSON.stringify({ jsonrpc: '2.0', id: 'early', method: 'session/new', params: { cwd, mcpServers: [] } }));
  expected.push({ id: 'early' });
  await write(JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: 1 } }));
  expected.push({ id: 'init', ok: true });
  for (let n = 0; n < 300; n++) {
    const [line, want] = randomCase(n);
    // The bridge answers in order; wait for the answers so far so that one
    // case's answer is never taken for another's.
    await write(line);
    if (want !== 'none') expected.push(want === 'null' ? { id: null } : want);
    await until(() => out.split('\n').filter(Boolean).length >= expected.length, 10000, `answer ${expected.length} (seed ${startSeed})`);
  }
  await write(JSON.stringify({ jsonrpc: '2.0', id: 'last', method: 'initialize', params: { protocolVersion: 1 } }));
  expected.push({ id: 'last', ok: true });
  await until(() => out.split('\n').filter(Boolean).length >= expected.length, 10000, 'the last answer');
  child.stdin.end();
  const code = await new Promise((r) => child.on('exit', r));
  const got = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  eq(got.length, expected.length, `answers (seed ${startSeed})`);
  got.forEach((m, i) => {
    const want = expected[i];
    const p = validate(m, new Map([['init', 'initialize'], ['last', 'initialize'], [m.id, String(m.id).startsWith('cancel') ? 'session/cancel' : 'initialize']]));
    assert(p === null, `answer ${i}: ${p}`);
    eq(m.id ?? null, want.id, `answer ${i}'s id (seed ${startSeed})`);
    assert(want.ok ? 'result' in m : 'error' in m, `answer ${i}: ${JSON.stringify(m).slice(0, 200)} (seed ${startSeed})`);
  });
  eq(code, 0, 'exit status at the end of input');
});

// ---- acpx, the headless ACP client ---------------------------------------

await check('acpx runs a one-shot task through caretictl acp', async () => {
  const home = path.join(WORK, 'acpx-home');
  fs.mkdirSync(home, { recursive: true });
  await script([{ content: READ }, { content: '<attempt_completion>\n<result>It returns 0.</result>\n</attempt_completion>' }]);
  const r = spawnSync(process.execPath, [new URL('./node_modules/acpx/dist/cli.js', import.meta.url).pathname,
    '--agent', `${CARETICTL} --socket ${SOCK} acp`, '--cwd', cwd, '--approve-all', '--format', 'json', '--timeout', '60', 'exec', 'what does main return?'],
  { env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 90000 });
  assert(r.status === 0, `exit ${r.status}: ${r.stderr.slice(-400)} ${r.stdout.slice(-400)}`);
  assert(r.stdout.includes('It returns 0.'), `output: ${r.stdout.slice(-600)}`);
  eq((await emu('/_emu/script')).remaining, 0, 'both scripted replies were used');
});

process.exit(failed ? 1 : 0);
