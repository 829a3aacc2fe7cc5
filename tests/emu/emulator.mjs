// Scripted model-server emulator for caretid's tests.  It answers the way
// Ollama, LM Studio or an OpenAI-compatible server (llama.cpp) does, as
// written in ../shared/PROTOCOLS.md, and injects faults on demand.
//
//   node emulator.mjs KIND [PORT]      KIND: ollama | lmstudio | openai
//
// With EMU_TLS_CERT and EMU_TLS_KEY (PEM files) set, it serves HTTPS, as a
// remote OpenAI-compatible endpoint would.
//
// Prints "port N" once listening.  Control routes (not part of any real
// server): POST /_emu/fault {...} sets faults for the following requests,
// GET /_emu/log returns what was received, POST /_emu/reset clears both,
// POST /_emu/close_idle closes every idle keep-alive connection, GET
// /_emu/connections counts the TCP connections accepted so far.
// Faults: slow_ms (between chunks), stall_after (chunks, then silence),
// drop_after (chunks, then the socket is destroyed), garbage_after (chunks,
// then a line that is not JSON), cold_ms (before the response head),
// status + error (an HTTP error in the server's own shape), reply (text),
// tool (emit a tool call), think (emit reasoning first), no_done (end the
// stream without its final object / [DONE]), count (requests it applies to),
// interim (a 102 Processing head before the answer), eof_framed (a
// streamed answer framed by closing the connection, no chunked encoding),
// not_http (a reply that is not HTTP at all), redirect (a 3xx to that URL,
// as a proxy in front of a moved server sends; redirect_status, 302 unless
// set), error_200 (HTTP 200 whose whole body is the server's error object:
// {"error":"..."} from Ollama, {"error":{...}} from the others),
// midstream_error (the server's in-band error, PROTOCOLS.md 1 and 5: an
// {"error":"..."} NDJSON line from Ollama, a data: {"error":{...}} event
// from the others, then the end with no done:true / [DONE]; after
// error_after chunks, or after all of them).
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';

const kind = process.argv[2] || 'ollama';
const port = Number(process.argv[3] || 0);

const models = {
  ollama: [
    { name: 'qwen3-coder:30b', size: 18556700000, quant: 'Q4_K_M', family: 'qwen3moe', params: '30.5B' },
    { name: 'llama3.2:latest', size: 2019393189, quant: 'Q4_K_M', family: 'llama', params: '3.2B' },
    { name: 'nomic-embed-text:latest', size: 274302450, quant: 'F16', family: 'nomic-bert', params: '137M' },
    { name: 'deepthink:8b', size: 5200000000, quant: 'Q4_K_M', family: 'qwen3', params: '8.2B' },
    { name: 'smallctx:7b', size: 4100000000, quant: 'Q4_0', family: 'llama', params: '7B', ctx: 8192 },
    { name: 'huge:70b', size: 42000000000, quant: 'Q4_K_M', family: 'llama', params: '70B' },
  ],
  lmstudio: [
    { name: 'qwen3-coder-30b-a3b-instruct', quant: 'Q4_K_M', family: 'qwen3moe', state: 'loaded', max: 262144, loaded: 32768 },
    { name: 'gemma-3-12b', quant: 'Q8_0', family: 'gemma3', state: 'not-loaded', max: 131072 },
    { name: 'text-embedding-nomic-embed-text-v1.5', quant: 'Q8_0', family: 'nomic-bert', state: 'loaded', max: 2048, loaded: 2048, type: 'embeddings' },
  ],
  // EMU_N_CTX: the window the server was started with (-c), 8192 unless set.
  openai: [{ name: 'local-model', family: 'llama', n_ctx: Number(process.env.EMU_N_CTX || 8192) }],
}[kind];

let faults = {};
let log = [];
// Each request reads the faults that were set when it arrived: a slow
// request from an earlier test must neither see nor use up later ones.
const requestFaults = new AsyncLocalStorage();

function take(name) {
  const f = requestFaults.getStore() ?? faults;
  return f[name];
}

// A model request takes one use of the faults (count) as it arrives.
function claimFaults() {
  const mine = { ...faults };
  if (faults.count !== undefined) {
    faults.count -= 1;
    if (faults.count <= 0) faults = {};
  }
  return mine;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// What a server would count for the prompt: about 4 bytes a token, plus a
// few tokens of template per message, so counts grow with the prompt.
function promptTokens(body) {
  const parts = Array.isArray(body.messages) ? body.messages : [{ content: body.prompt || '' }];
  let n = 0;
  for (const m of parts) {
    const text = typeof m.content === 'string' ? m.content : JSON.stringify(m.content || '');
    n += Math.ceil(text.length / 4) + 4;
  }
  return n;
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function json(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function errorBody(status, message) {
  if (kind === 'ollama') return { error: message };
  if (kind === 'lmstudio') return { error: { message, type: 'invalid_request_error', param: 'model', code: status === 404 ? 'model_not_found' : null } };
  return { error: { code: status, message, type: status === 404 ? 'not_found_error' : 'invalid_request_error' } };
}

function findModel(name) {
  if (!name) return undefined;
  return models.find((m) => m.name === name || (kind === 'ollama' && !name.includes(':') && m.name === `${name}:latest`));
}

function lastUser(messages) {
  for (let i = (messages || []).length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role === 'user') {
      if (typeof m.content === 'string') return m.content;
      if (Array.isArray(m.content)) return m.content.filter((p) => p.type === 'text').map((p) => p.text).join('');
    }
  }
  return '';
}

function replyPieces(text) {
  const words = text.split(/(?<= )/);
  return words.length ? words : [''];
}

// Stream PIECES through WRITE one by one, honouring the faults.  Returns
// false when the stream was cut short on purpose.
async function streamPieces(res, pieces, write) {
  const slow = take('slow_ms') || 0;
  for (let i = 0; i < pieces.length; i++) {
    const faultHere = ['stall_after', 'drop_after', 'garbage_after', 'bad_utf8_after', 'error_after'].some((f) => take(f) === i);
    // Let what was written reach the client before the fault strikes.
    if (faultHere) await sleep(50);
    if (take('stall_after') !== undefined && i === take('stall_after')) {
      await new Promise((r) => res.on('close', r));
      return false;
    }
    if (take('drop_after') !== undefined && i === take('drop_after')) {
      res.socket.destroy();
      return false;
    }
    if (take('bad_utf8_after') !== undefined && i === take('bad_utf8_after')) {
      // Bytes that are not UTF-8, as a broken proxy or runner might send.
      res.write(Buffer.concat([Buffer.from(kind === 'ollama' ? '' : 'data: '), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(kind === 'ollama' ? '\n' : '\n\n')]));
      res.end();
      return false;
    }
    if (take('midstream_error') && take('error_after') === i) {
      res.write(inBandError(take('midstream_error')));
      res.end();
      return false;
    }
    if (take('garbage_after') !== undefined && i === take('garbage_after')) {
      res.write(kind === 'ollama' ? 'this is not json\n' : 'data: this is not json\n\n');
      res.end();
      return false;
    }
    if (res.destroyed) return false;
    write(pieces[i], i);
    if (slow) await sleep(slow);
  }
  return true;
}

// A server's error in the middle of its stream: Ollama's extra NDJSON line
// (no done field), llama-server's error event (code, message, type).
function inBandError(message) {
  if (kind === 'ollama') return JSON.stringify({ error: message }) + '\n';
  return `data: ${JSON.stringify({ error: { code: 500, message, type: 'server_error' } })}\n\n`;
}

const toolArgs = { path: 'a.c' };

async function ollamaChatOrGenerate(req, res, body, isChat) {
  if (!body.model) return json(res, 400, { error: 'model is required' });
  const m = findModel(body.model);
  if (!m) return json(res, 404, { error: `model '${body.model}' not found` });
  const text = take('reply') ?? `Hi! You said: ${isChat ? lastUser(body.messages) : body.prompt}`;
  const think = take('think') || m.name.startsWith('deepthink');
  const tool = take('tool') || (isChat && Array.isArray(body.tools) && body.tools.length > 0);
  const stream = body.stream !== false;
  const base = () => ({ model: m.name, created_at: new Date().toISOString() });
  const finalObj = () => ({
    ...base(), ...(isChat ? { message: { role: 'assistant', content: '' } } : { response: '' }),
    done: true, done_reason: 'stop', total_duration: 5123456789, load_duration: 41234567,
    prompt_eval_count: promptTokens(body), prompt_eval_duration: 301234567, eval_count: replyPieces(text).length, eval_duration: take('eval_ns') || 470000000,
  });
  if (isChat && Array.isArray(body.messages) && body.messages.length === 0) {
    // Only load the model (PROTOCOLS.md 1): Ollama answers with one JSON
    // object, stream or not, as it does its errors.
    return json(res, 200, { ...base(), message: { role: 'assistant', content: '' }, done: true, done_reason: 'load' });
  }
  const toolCall = { id: 'call_k3j9x0qa', function: { index: 0, name: tool ? (body.tools?.[0]?.function?.name || 'read_file') : '', arguments: toolArgs } };
  if (!stream) {
    const msg = { role: 'assistant', content: tool ? '' : text };
    if (think) msg.thinking = 'Let me think.';
    if (tool) msg.tool_calls = [toolCall];
    return json(res, 200, isChat ? { ...finalObj(), message: msg } : { ...finalObj(), response: text });
  }
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  const pieces = [];
  if (think) pieces.push({ thinking: 'Let me think.' });
  if (tool) pieces.push({ tool: true });
  else for (const w of replyPieces(text)) pieces.push({ content: w });
  const ok = await streamPieces(res, pieces, (p) => {
    let obj;
    if (p.tool) obj = { ...base(), message: { role: 'assistant', content: '', tool_calls: [toolCall] }, done: false };
    else if (isChat) obj = { ...base(), message: { role: 'assistant', content: p.content || '', ...(p.thinking ? { thinking: p.thinking } : {}) }, done: false };
    else obj = { ...base(), response: p.content || '', ...(p.thinking ? { thinking: p.thinking } : {}), done: false };
    res.write(JSON.stringify(obj) + '\n');
  });
  if (!ok) return;
  if (take('midstream_error')) {
    res.write(inBandError(take('midstream_error')));
    return res.end();
  }
  if (!take('no_done')) res.write(JSON.stringify(finalObj()) + '\n');
  res.end();
}

async function openaiChatOrCompletion(req, res, body, isChat) {
  const m = kind === 'openai' ? models[0] : findModel(body.model);
  if (!m) {
    return json(res, 404, errorBody(404, `Model "${body.model}" not found. Please specify a valid model.`));
  }
  if (kind === 'lmstudio' && m.state !== 'loaded' && take('jit') === false) {
    return json(res, 400, errorBody(400, "No models loaded. Please load a model in the developer page or use the 'lms load' command."));
  }
  const text = take('reply') ?? `Hi! You said: ${isChat ? lastUser(body.messages) : body.prompt}`;
  const think = take('think');
  const tool = take('tool') || (isChat && Array.isArray(body.tools) && body.tools.length > 0);
  const id = 'chatcmpl-emu';
  const created = Math.floor(Date.now() / 1000);
  const pt = promptTokens(body);
  const usage = { prompt_tokens: pt, completion_tokens: replyPieces(text).length, total_tokens: pt + replyPieces(text).length };
  const toolName = body.tools?.[0]?.function?.name || 'read_file';
  // llama.cpp's server times its own work (PROTOCOLS.md 5, timings): 40
  // tokens/s unless eval_ns says otherwise.
  const n = usage.completion_tokens;
  const predictedMs = (take('eval_ns') || n * 25e6) / 1e6;
  const timings = kind === 'openai'
    ? { prompt_n: pt, prompt_ms: 80.5, predicted_n: n, predicted_ms: predictedMs, predicted_per_second: (n * 1000) / predictedMs }
    : undefined;
  if (!body.stream) {
    const message = { role: 'assistant', content: tool ? null : text };
    if (think) message.reasoning_content = 'Let me think.';
    if (tool) message.tool_calls = [{ id: 'call_1', type: 'function', function: { name: toolName, arguments: JSON.stringify(toolArgs) } }];
    const choice = isChat ? { index: 0, finish_reason: tool ? 'tool_calls' : 'stop', message } : { index: 0, text, finish_reason: 'stop', logprobs: null };
    return json(res, 200, { id, object: isChat ? 'chat.completion' : 'text_completion', created, model: m.name, choices: [choice], usage, timings });
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  const chunk = (delta, finish = null) => isChat
    ? { id, object: 'chat.completion.chunk', created, model: m.name, choices: [{ index: 0, delta, finish_reason: finish }] }
    : { id, object: 'text_completion', created, model: m.name, choices: [{ index: 0, text: delta.content || '', finish_reason: finish, logprobs: null }] };
  const send = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  res.write(': keep-alive\n\n');
  const pieces = [{ role: true }];
  if (think) pieces.push({ reasoning: 'Let me think.' });
  if (tool) {
    pieces.push({ tool_start: true });
    pieces.push({ tool_args: '{"pa' });
    pieces.push({ tool_args: 'th":"a.c"}' });
  } else for (const w of replyPieces(text)) pieces.push({ content: w });
  const ok = await streamPieces(res, pieces, (p) => {
    if (p.role) send(chunk({ role: 'assistant', content: null }));
    else if (p.reasoning) send(chunk({ reasoning_content: p.reasoning }));
    else if (p.tool_start) send(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: toolName, arguments: '' } }] }));
    else if (p.tool_args) send(chunk({ tool_calls: [{ index: 0, function: { arguments: p.tool_args } }] }));
    else send(chunk({ content: p.content }));
  });
  if (!ok) return;
  if (take('midstream_error')) {
    res.write(inBandError(take('midstream_error')));
    return res.end();
  }
  // The timings go on the last chunk: the usage chunk if asked for, else the finish chunk.
  const wantUsage = body.stream_options?.include_usage;
  send({ ...chunk({}, tool ? 'tool_calls' : 'stop'), ...(wantUsage ? {} : { timings }) });
  if (wantUsage) send({ id, object: 'chat.completion.chunk', created, model: m.name, choices: [], usage, timings });
  if (!take('no_done')) res.write('data: [DONE]\n\n');
  res.end();
}

function embedding(n) {
  const v = [0.1 * (n + 1), 0.2, 0.3];
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  const raw = req.method === 'POST' ? await readBody(req) : '';
  if (path.startsWith('/_emu/')) {
    if (path === '/_emu/fault') { faults = JSON.parse(raw || '{}'); return json(res, 200, { ok: true }); }
    if (path === '/_emu/log') return json(res, 200, log);
    if (path === '/_emu/reset') { faults = {}; log = []; return json(res, 200, { ok: true }); }
    if (path === '/_emu/connections') return json(res, 200, { accepted: connections });
    if (path === '/_emu/close_idle') {
      // A server that restarts or times out its keep-alive connections.
      json(res, 200, { ok: true });
      return setImmediate(() => server.closeIdleConnections());
    }
  }
  let body = {};
  if (raw) {
    try { body = JSON.parse(raw); } catch {
      return json(res, 400, errorBody(400, 'invalid JSON'));
    }
  }
  const entry = { method: req.method, path, body, auth: req.headers.authorization || null, at: Date.now(), closed_at: null, finished: false };
  log.push(entry);
  res.on('close', () => { entry.closed_at = Date.now(); entry.finished = res.writableFinished; });
  const modelRequest = path.includes('chat') || path.includes('generate') || path.includes('completions') || path.includes('embed');
  return requestFaults.run(modelRequest ? claimFaults() : { ...faults }, async () => {
    if (modelRequest) {
      const status = take('status');
      const cold = take('cold_ms');
      if (cold) await sleep(cold);
      if (status) return json(res, status, errorBody(status, take('error') || 'emulated failure'));
      if (take('redirect')) {
        // What nginx or a moved service answers: a Location and a short page.
        const page = `<html><body><a href="${take('redirect')}">moved</a></body></html>`;
        res.writeHead(take('redirect_status') || 302, { Location: take('redirect'), 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(page) });
        return res.end(page);
      }
      if (take('error_200')) return json(res, 200, kind === 'ollama' ? { error: take('error_200') } : errorBody(500, take('error_200')));
      if (take('not_http')) return res.socket.end('this is not HTTP\r\n\r\n');
      if (take('interim')) res.writeProcessing();
      if (take('eof_framed')) res.useChunkedEncodingByDefault = false;
    }
    return route(req, res, path, body);
  });
}

async function route(req, res, path, body) {
  if (kind === 'ollama') {
    if ((req.method === 'GET' || req.method === 'HEAD') && path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      return res.end('Ollama is running');
    }
    if (path === '/api/version') return json(res, 200, { version: '0.33.0' });
    if (path === '/api/tags') {
      return json(res, 200, { models: models.map((m) => ({ name: m.name, model: m.name, modified_at: '2026-05-01T09:00:00Z', size: m.size, digest: 'a'.repeat(64),
        details: { parent_model: '', format: 'gguf', family: m.family, families: [m.family], parameter_size: m.params, quantization_level: m.quant } })) });
    }
    if (path === '/api/ps') {
      const m = models[0];
      return json(res, 200, { models: [{ name: m.name, model: m.name, size: 19000000000, size_vram: 19000000000, digest: 'a'.repeat(64),
        details: { format: 'gguf', family: m.family, quantization_level: m.quant }, expires_at: '2026-05-01T09:35:00.1+02:00', context_length: 32768 }] });
    }
    if (path === '/api/show') {
      const m = findModel(body.model || body.name);
      if (!m) return json(res, 404, { error: `model '${body.model || body.name}' not found` });
      return json(res, 200, { modelfile: '', parameters: 'num_ctx                        8192', template: '', details: { format: 'gguf', family: m.family, quantization_level: m.quant },
        model_info: { 'general.architecture': m.family, [`${m.family}.context_length`]: m.ctx || 262144 }, capabilities: ['completion', 'tools'] });
    }
    if (path === '/api/chat') return ollamaChatOrGenerate(req, res, body, true);
    if (path === '/api/generate') return ollamaChatOrGenerate(req, res, body, false);
    if (path === '/api/embed') {
      const m = findModel(body.model);
      if (!m) return json(res, 404, { error: `model '${body.model}' not found` });
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      return json(res, 200, { model: m.name, embeddings: inputs.map((_, i) => embedding(i)), total_duration: 1000, load_duration: 10, prompt_eval_count: inputs.length * 3 });
    }
    if (path === '/api/pull') {
      if (body.model === 'nope') return json(res, 500, { error: 'pull model manifest: file does not exist' });
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      const lines = [{ status: 'pulling manifest' }, { status: 'pulling 3f2a9c0d1e4b', digest: 'sha256:3f2a9c0d1e4b', total: 1000 },
        { status: 'pulling 3f2a9c0d1e4b', digest: 'sha256:3f2a9c0d1e4b', total: 1000, completed: 500 },
        { status: 'pulling 3f2a9c0d1e4b', digest: 'sha256:3f2a9c0d1e4b', total: 1000, completed: 1000 },
        { status: 'verifying sha256 digest' }, { status: 'writing manifest' }, { status: 'success' }];
      for (const l of lines) { res.write(JSON.stringify(l) + '\n'); await sleep(take('slow_ms') || 0); }
      return res.end();
    }
    return json(res, 404, { error: '404 page not found' });
  }
  // LM Studio and llama.cpp speak OpenAI's dialect.
  if (path === '/v1/models') {
    return json(res, 200, { object: 'list', data: models.map((m) => ({ id: m.name, object: 'model', created: 0, owned_by: kind === 'openai' ? 'llamacpp' : 'organization_owner',
      ...(kind === 'openai' ? { meta: { n_ctx: m.n_ctx, n_ctx_train: 131072 } } : {}) })) });
  }
  if (kind === 'lmstudio' && path === '/api/v0/models') {
    return json(res, 200, { object: 'list', data: models.map((m) => ({ id: m.name, object: 'model', type: m.type || 'llm', publisher: 'lmstudio-community', arch: m.family,
      compatibility_type: 'gguf', quantization: m.quant, state: m.state, max_context_length: m.max, ...(m.state === 'loaded' ? { loaded_context_length: m.loaded } : {}) })) });
  }
  if (path === '/v1/chat/completions') return openaiChatOrCompletion(req, res, body, true);
  if (path === '/v1/completions') return openaiChatOrCompletion(req, res, body, false);
  if (path === '/v1/embeddings') {
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    return json(res, 200, { object: 'list', data: inputs.map((_, i) => ({ object: 'embedding', index: i, embedding: embedding(i) })), model: body.model, usage: { prompt_tokens: inputs.length * 3, total_tokens: inputs.length * 3 } });
  }
  if (kind === 'lmstudio') return json(res, 200, { error: `Unexpected endpoint or method. (${req.method} ${path})` });
  return json(res, 404, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
}

const onRequest = (req, res) => {
  handle(req, res).catch((e) => { try { json(res, 500, errorBody(500, String(e))); } catch { /* gone */ } });
};
const server = process.env.EMU_TLS_CERT
  ? https.createServer({ cert: fs.readFileSync(process.env.EMU_TLS_CERT), key: fs.readFileSync(process.env.EMU_TLS_KEY) }, onRequest)
  : http.createServer(onRequest);
server.keepAliveTimeout = 60000;
let connections = 0; // TCP connections accepted, control routes' included
server.on(process.env.EMU_TLS_CERT ? 'secureConnection' : 'connection', () => { connections++; });
server.listen(port, '127.0.0.1', () => {
  console.log(`port ${server.address().port}`);
});
