// Compatibility with the official client libraries: the `openai` and
// `ollama` npm packages drive caretid over TCP and over its Unix socket,
// against each provider type (emulated).  Prints one "ok - NAME" or
// "not ok - NAME: why" line per check, like the shell suites.
//
// Environment: CARETI_TCP (http://127.0.0.1:PORT), CARETI_TOKEN (its bearer
// token, as `caretictl status` shows it), CARETI_SOCKET (path).
import http from 'node:http';
import { Readable } from 'node:stream';
import OpenAI from 'openai';
import { Ollama } from 'ollama';

const tcp = process.env.CARETI_TCP;
const token = process.env.CARETI_TOKEN;
const socketPath = process.env.CARETI_SOCKET;
let failed = 0;

function ok(name) { console.log(`ok - ${name}`); }
function notOk(name, why) { failed++; console.log(`not ok - ${name}: ${String(why).slice(0, 400)}`); }

async function check(name, fn) {
  try {
    await fn();
    ok(name);
  } catch (e) {
    notOk(name, e?.stack || e);
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

// fetch() over a Unix socket, for clients that take a custom fetch.
function unixFetch(input, init = {}) {
  const url = new URL(typeof input === 'string' ? input : input.url);
  return new Promise((resolve, reject) => {
    const headers = {};
    new Headers(init.headers || {}).forEach((v, k) => { headers[k] = v; });
    const req = http.request({ socketPath, path: url.pathname + url.search, method: init.method || 'GET', headers }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : v);
      resolve(new Response(Readable.toWeb(res), { status: res.statusCode, headers: h }));
    });
    req.on('error', reject);
    if (init.signal) init.signal.addEventListener('abort', () => req.destroy(new Error('aborted')));
    if (init.body) req.end(typeof init.body === 'string' ? init.body : Buffer.from(init.body));
    else req.end();
  });
}

const transports = [
  ['tcp', { openai: { baseURL: `${tcp}/v1`, apiKey: token }, ollama: { host: tcp, headers: { Authorization: `Bearer ${token}` } } }],
  ['unix', { openai: { baseURL: 'http://localhost/v1', fetch: unixFetch }, ollama: { host: 'http://localhost', fetch: unixFetch } }],
];

// One model per provider type, as the emulators name them.
const models = [
  ['ollama', 'llama3.2'],
  ['lmstudio', 'qwen3-coder-30b-a3b-instruct'],
  ['openai', 'local-model'],
];
const tools = [{ type: 'function', function: { name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } } }];

for (const [tname, opts] of transports) {
  const openai = new OpenAI({ apiKey: 'unused', maxRetries: 0, timeout: 15000, ...opts.openai });
  const ollama = new Ollama(opts.ollama);

  await check(`[${tname}] openai: models.list merges every provider`, async () => {
    const ids = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    for (const id of ['llama3.2:latest', 'qwen3-coder-30b-a3b-instruct', 'local-model']) assert(ids.includes(id), `missing ${id} in ${ids}`);
  });
  await check(`[${tname}] ollama: list merges every provider`, async () => {
    const res = await ollama.list();
    const names = res.models.map((m) => m.name);
    assert(names.includes('llama3.2:latest') && names.includes('local-model'), names.join(','));
  });

  for (const [ptype, model] of models) {
    const tag = `[${tname}] ${ptype}`;
    await check(`${tag} openai: chat, not streamed`, async () => {
      const r = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'ping' }] });
      assert(r.choices[0].message.content === 'Hi! You said: ping', JSON.stringify(r));
      assert(r.choices[0].finish_reason === 'stop', r.choices[0].finish_reason);
    });
    await check(`${tag} openai: chat, streamed with usage`, async () => {
      const stream = await openai.chat.completions.create({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'ping' }] });
      let text = '';
      let usage = null;
      let finish = null;
      for await (const c of stream) {
        if (c.usage) usage = c.usage;
        const ch = c.choices[0];
        if (ch?.delta?.content) text += ch.delta.content;
        if (ch?.finish_reason) finish = ch.finish_reason;
      }
      assert(text === 'Hi! You said: ping', text);
      assert(finish === 'stop', finish);
      assert(usage && usage.prompt_tokens === 5, JSON.stringify(usage));
    });
    await check(`${tag} openai: tool calls`, async () => {
      const r = await openai.chat.completions.create({ model, tools, messages: [{ role: 'user', content: 'read a.c' }] });
      const call = r.choices[0].message.tool_calls?.[0];
      assert(call && call.function.name === 'read_file', JSON.stringify(r));
      assert(JSON.parse(call.function.arguments).path === 'a.c', call.function.arguments);
      assert(r.choices[0].finish_reason === 'tool_calls', r.choices[0].finish_reason);
    });
    await check(`${tag} openai: completions`, async () => {
      const r = await openai.completions.create({ model, prompt: 'hey' });
      assert(r.choices[0].text === 'Hi! You said: hey', JSON.stringify(r));
    });
    await check(`${tag} ollama: chat, not streamed`, async () => {
      const r = await ollama.chat({ model, messages: [{ role: 'user', content: 'ping' }], stream: false });
      assert(r.message.content === 'Hi! You said: ping', JSON.stringify(r));
      assert(r.done === true, 'not done');
    });
    await check(`${tag} ollama: chat, streamed`, async () => {
      const stream = await ollama.chat({ model, messages: [{ role: 'user', content: 'ping' }], stream: true });
      let text = '';
      let last = null;
      for await (const part of stream) { text += part.message.content; last = part; }
      assert(text === 'Hi! You said: ping', text);
      assert(last.done === true && last.eval_count > 0, JSON.stringify(last));
    });
    await check(`${tag} ollama: tool calls with object arguments`, async () => {
      const r = await ollama.chat({ model, tools, messages: [{ role: 'user', content: 'read a.c' }], stream: false });
      const call = r.message.tool_calls?.[0];
      assert(call && call.function.name === 'read_file' && call.function.arguments.path === 'a.c', JSON.stringify(r));
    });
    await check(`${tag} ollama: generate, streamed`, async () => {
      let text = '';
      for await (const part of await ollama.generate({ model, prompt: 'hey', stream: true })) text += part.response;
      assert(text === 'Hi! You said: hey', text);
    });
  }

  await check(`[${tname}] openai: embeddings (Ollama)`, async () => {
    const r = await openai.embeddings.create({ model: 'nomic-embed-text', input: ['a', 'b'] });
    assert(r.data.length === 2 && r.data[1].embedding.length === 3, JSON.stringify(r));
  });
  await check(`[${tname}] ollama: embed (LM Studio)`, async () => {
    const r = await ollama.embed({ model: 'text-embedding-nomic-embed-text-v1.5', input: ['a', 'b'] });
    assert(r.embeddings.length === 2, JSON.stringify(r));
  });
  await check(`[${tname}] openai: unknown model is a 404 NotFoundError with suggestions`, async () => {
    try {
      await openai.chat.completions.create({ model: 'llama3.3', messages: [{ role: 'user', content: 'x' }] });
      throw new Error('no error');
    } catch (e) {
      assert(e instanceof OpenAI.NotFoundError, `not NotFoundError: ${e}`);
      assert(e.message.includes('closest: llama3.2:latest (ollama)'), e.message);
    }
  });
  await check(`[${tname}] ollama: unknown model is a ResponseError 404`, async () => {
    try {
      await ollama.chat({ model: 'llama3.3', messages: [{ role: 'user', content: 'x' }] });
      throw new Error('no error');
    } catch (e) {
      assert(e.status_code === 404, `status ${e.status_code}: ${e}`);
      assert(e.error.includes("model 'llama3.3' not found"), e.error);
    }
  });
  await check(`[${tname}] openai: unreachable provider is a 502 naming it`, async () => {
    try {
      await openai.chat.completions.create({ model: 'm@dead', messages: [{ role: 'user', content: 'x' }] });
      throw new Error('no error');
    } catch (e) {
      assert(e.status === 502, `status ${e.status}`);
      assert(e.message.includes('refused the connection'), e.message);
    }
  });
  await check(`[${tname}] ollama: a dropped stream raises, never ends quietly`, async () => {
    await fetch(`${process.env.EMU_OLLAMA}/_emu/fault`, { method: 'POST', body: JSON.stringify({ drop_after: 2, count: 1 }) });
    let text = '';
    try {
      for await (const part of await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'ping' }], stream: true })) text += part.message.content;
      throw new Error(`no error after "${text}"`);
    } catch (e) {
      assert(String(e.message || e.error).includes('closed the connection in the middle'), String(e.message));
    }
  });
  await check(`[${tname}] openai: a dropped stream raises, never ends quietly`, async () => {
    await fetch(`${process.env.EMU_LMSTUDIO}/_emu/fault`, { method: 'POST', body: JSON.stringify({ drop_after: 2, count: 1 }) });
    let text = '';
    try {
      const stream = await openai.chat.completions.create({ model: 'gemma-3-12b', stream: true, messages: [{ role: 'user', content: 'ping' }] });
      for await (const c of stream) text += c.choices[0]?.delta?.content || '';
      throw new Error(`no error after "${text}"`);
    } catch (e) {
      assert(String(e.message).includes('closed the connection in the middle'), String(e.message));
    }
  });
}

console.log(`# compat: ${failed} failed`);
process.exit(failed ? 1 : 0);
