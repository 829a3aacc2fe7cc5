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
// GET /_emu/log returns what was received (at, at_us, closed_at, closed_us:
// when each request came and its connection closed, in ms and µs), POST /_emu/reset clears both,
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
// What a server says a model can do (each model's caps): tags_caps (Ollama
// lists capabilities in /api/tags, as recent versions do), props (the
// openai kind's GET /props: 'none' answers 404 as a server without it,
// 'notools' says its template cannot call tools), show_ms (before Ollama's
// /api/show answers).
//
// Scripted replies: POST /_emu/script {"replies": [R, ...]} appends to a
// queue ({"replace": true} empties it first), GET /_emu/script answers
// {"remaining": n, "served": n}, /_emu/reset empties it.  While the queue
// is not empty, each chat request (/api/chat; /v1/chat/completions) takes
// its first reply instead of the canned one; faults still apply, but for
// reply, tool and think, which the script's own content replaces.  R:
//   content     text, streamed as it is (text-form tool calls included)
//   thinking    sent first: Ollama's message.thinking, OpenAI's
//               delta.reasoning_content
//   tool_calls  [{name, arguments: {...} (or a raw string), id?}], native
//               calls in the server's streamed shape: Ollama's whole in
//               one chunk; OpenAI's a chunk with id, name and "" arguments,
//               then the arguments string in pieces, finish "tool_calls"
//   chunk_bytes cut texts into pieces of N bytes, never inside a UTF-8
//               character (default: words; 8 bytes for OpenAI arguments)
//   slow_ms     pause between pieces (instead of the slow_ms fault)
//   expect      {tools: bool, last_role, contains: text or [texts], model}:
//               a request that differs gets HTTP 500 saying what was
//               expected and what came
// Each piece is a token for eval_count / completion_tokens.
// Each chat request's /_emu/log entry also has pieces_total, pieces_sent
// (written before the client left), closed_early, prompt_n (tokens as
// usage counts them), cache_n (how many of them lead with the previous
// chat request's prompt, byte for byte: the prompt renders as the tools'
// JSON, then each message as <|role|> content tool_calls tool_call_id),
// prompt_bytes, cache_bytes, and script_reply (1.. when scripted).  KIND
// openai adds llama-server's timings (cache_n; prompt_n, the tokens
// evaluated, cache_n excluded; predicted_n; ...) to the last chunk of a
// chat stream and to a whole answer.
//
// GET /props (KIND openai) answers as llama-server does, with
// chat_template_caps and default_generation_settings.
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
    { name: 'nomic-embed-text:latest', size: 274302450, quant: 'F16', family: 'nomic-bert', params: '137M', caps: ['embedding'] },
    { name: 'deepthink:8b', size: 5200000000, quant: 'Q4_K_M', family: 'qwen3', params: '8.2B' },
    { name: 'smallctx:7b', size: 4100000000, quant: 'Q4_0', family: 'llama', params: '7B', ctx: 8192 },
    { name: 'huge:70b', size: 42000000000, quant: 'Q4_K_M', family: 'llama', params: '70B' },
    // A model whose template has no tools: /api/show says so (capabilities).
    { name: 'plaincoder:7b', size: 4400000000, quant: 'Q4_K_M', family: 'qwen2', params: '7.6B', caps: ['completion'] },
  ],
  lmstudio: [
    { name: 'qwen3-coder-30b-a3b-instruct', quant: 'Q4_K_M', family: 'qwen3moe', state: 'loaded', max: 262144, loaded: 32768, caps: ['tool_use'] },
    { name: 'gemma-3-12b', quant: 'Q8_0', family: 'gemma3', state: 'not-loaded', max: 131072, caps: [] },
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
// false when the stream was cut short on purpose or the client left.
// OPTS.slow (ms between pieces) overrides the slow_ms fault; OPTS.stats, a
// chat request's log entry, counts the pieces written (pieces_sent, the
// role chunk left out) and notes a client that left first (closed_early).
async function streamPieces(res, pieces, write, opts = {}) {
  const slow = opts.slow ?? (take('slow_ms') || 0);
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
    if (clientGone(res)) {
      if (opts.stats) opts.stats.closed_early = true;
      return false;
    }
    write(pieces[i], i);
    if (opts.stats && !pieces[i].role) opts.stats.pieces_sent++;
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
  const stats = isChat ? accountPrompt(req, body) : undefined;
  if (isChat) {
    const r = takeScripted(req);
    if (r) return ollamaScripted(req, res, body, m, r);
  }
  const toolCall = { id: 'call_k3j9x0qa', function: { index: 0, name: tool ? (body.tools?.[0]?.function?.name || 'read_file') : '', arguments: toolArgs } };
  const pieces = [];
  if (think) pieces.push({ thinking: 'Let me think.' });
  if (tool) pieces.push({ tool: true });
  else for (const w of replyPieces(text)) pieces.push({ content: w });
  if (stats) stats.pieces_total = pieces.length;
  if (!stream) {
    const msg = { role: 'assistant', content: tool ? '' : text };
    if (think) msg.thinking = 'Let me think.';
    if (tool) msg.tool_calls = [toolCall];
    json(res, 200, isChat ? { ...finalObj(), message: msg } : { ...finalObj(), response: text });
    if (stats && !clientGone(res)) stats.pieces_sent = pieces.length;
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  const ok = await streamPieces(res, pieces, (p) => {
    let obj;
    if (p.tool) obj = { ...base(), message: { role: 'assistant', content: '', tool_calls: [toolCall] }, done: false };
    else if (isChat) obj = { ...base(), message: { role: 'assistant', content: p.content || '', ...(p.thinking ? { thinking: p.thinking } : {}) }, done: false };
    else obj = { ...base(), response: p.content || '', ...(p.thinking ? { thinking: p.thinking } : {}), done: false };
    res.write(JSON.stringify(obj) + '\n');
  }, { stats });
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
  const stats = isChat ? accountPrompt(req, body) : undefined;
  if (isChat) {
    const r = takeScripted(req);
    if (r) return openaiScripted(req, res, body, m, r);
  }
  const text = take('reply') ?? `Hi! You said: ${isChat ? lastUser(body.messages) : body.prompt}`;
  const think = take('think');
  const tool = take('tool') || (isChat && Array.isArray(body.tools) && body.tools.length > 0);
  const id = 'chatcmpl-emu';
  const created = Math.floor(Date.now() / 1000);
  const pt = promptTokens(body);
  const usage = { prompt_tokens: pt, completion_tokens: replyPieces(text).length, total_tokens: pt + replyPieces(text).length };
  const toolName = body.tools?.[0]?.function?.name || 'read_file';
  const pieces = [{ role: true }];
  if (think) pieces.push({ reasoning: 'Let me think.' });
  if (tool) {
    pieces.push({ tool_start: true });
    pieces.push({ tool_args: '{"pa' });
    pieces.push({ tool_args: 'th":"a.c"}' });
  } else for (const w of replyPieces(text)) pieces.push({ content: w });
  if (stats) stats.pieces_total = pieces.length - 1;
  const timings = kind === 'openai' && isChat ? llamaTimings(stats, usage.completion_tokens) : null;
  if (!body.stream) {
    const message = { role: 'assistant', content: tool ? null : text };
    if (think) message.reasoning_content = 'Let me think.';
    if (tool) message.tool_calls = [{ id: 'call_1', type: 'function', function: { name: toolName, arguments: JSON.stringify(toolArgs) } }];
    const choice = isChat ? { index: 0, finish_reason: tool ? 'tool_calls' : 'stop', message } : { index: 0, text, finish_reason: 'stop', logprobs: null };
    json(res, 200, { id, object: isChat ? 'chat.completion' : 'text_completion', created, model: m.name, choices: [choice], usage, ...(timings ? { timings } : {}) });
    if (stats && !clientGone(res)) stats.pieces_sent = pieces.length - 1;
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  const chunk = (delta, finish = null) => isChat
    ? { id, object: 'chat.completion.chunk', created, model: m.name, choices: [{ index: 0, delta, finish_reason: finish }] }
    : { id, object: 'text_completion', created, model: m.name, choices: [{ index: 0, text: delta.content || '', finish_reason: finish, logprobs: null }] };
  const send = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  res.write(': keep-alive\n\n');
  const ok = await streamPieces(res, pieces, (p) => {
    if (p.role) send(chunk({ role: 'assistant', content: null }));
    else if (p.reasoning) send(chunk({ reasoning_content: p.reasoning }));
    else if (p.tool_start) send(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: toolName, arguments: '' } }] }));
    else if (p.tool_args) send(chunk({ tool_calls: [{ index: 0, function: { arguments: p.tool_args } }] }));
    else send(chunk({ content: p.content }));
  }, { stats });
  if (!ok) return;
  if (take('midstream_error')) {
    res.write(inBandError(take('midstream_error')));
    return res.end();
  }
  openaiStreamEnd(res, body, chunk({}, tool ? 'tool_calls' : 'stop'), { id, object: 'chat.completion.chunk', created, model: m.name, choices: [], usage }, timings);
}

function embedding(n) {
  const v = [0.1 * (n + 1), 0.2, 0.3];
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

// Scripted replies (POST /_emu/script): a queue of prepared answers, one
// per chat request in order, each in the server's real streamed shape.
// The previous chat request's prompt is kept to say how much of the next
// one a prompt cache would reuse (llama-server's timings.cache_n).
let script = [];
let scriptServed = 0;
let lastPrompt = null;

function scriptReset() {
  script = [];
  scriptServed = 0;
  lastPrompt = null;
}

// POST appends replies ({"replace": true} drops the waiting ones first);
// GET says how many wait and how many were served.
function scriptControl(req, res, raw) {
  if (req.method !== 'POST') return json(res, 200, { remaining: script.length, served: scriptServed });
  let b;
  try { b = JSON.parse(raw || '{}'); } catch {
    return json(res, 400, { error: 'script: the body is not JSON' });
  }
  const bad = !Array.isArray(b.replies) || b.replies.some((r) => r === null || typeof r !== 'object' || Array.isArray(r));
  if (bad) return json(res, 400, { error: 'script: "replies" must be an array of objects' });
  if (b.replace) script = [];
  script.push(...b.replies);
  return json(res, 200, { ok: true, remaining: script.length, served: scriptServed });
}

// The messages as a template would render them, deterministically.
function renderMessages(body) {
  let s = '';
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    s += `<|${m.role}|>`;
    s += typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '');
    if (m.tool_calls) s += JSON.stringify(m.tool_calls);
    if (m.tool_call_id) s += m.tool_call_id;
  }
  return s;
}

// The whole prompt: the tools' schemas first, as chat templates put them
// in the system block at the top (so an unchanged tool list stays in the
// cached prefix), then the messages.
function renderPrompt(body) {
  const tools = Array.isArray(body.tools) && body.tools.length > 0 ? JSON.stringify(body.tools) : '';
  return Buffer.from(tools + renderMessages(body), 'utf8');
}

// Count a chat request's prompt into its log entry: prompt_n as
// promptTokens() counts it (the usage the server reports), cache_n the
// share of it whose rendering is a byte-identical prefix of the previous
// chat request's, in the same tokens (so cache_n <= prompt_n, and equal
// for a repeated prompt); prompt_bytes and cache_bytes are the raw
// measure.  Returns the entry.
function accountPrompt(req, body) {
  const cur = renderPrompt(body);
  let same = 0;
  if (lastPrompt) {
    const n = Math.min(lastPrompt.length, cur.length);
    while (same < n && lastPrompt[same] === cur[same]) same++;
  }
  lastPrompt = cur;
  const promptN = promptTokens(body);
  return Object.assign(req.emuEntry, {
    prompt_n: promptN, cache_n: cur.length ? Math.floor((promptN * same) / cur.length) : 0,
    prompt_bytes: cur.length, cache_bytes: same, pieces_total: 0, pieces_sent: 0, closed_early: false,
  });
}

// The next scripted reply, or null when the queue is empty.
function takeScripted(req) {
  if (script.length === 0) return null;
  scriptServed++;
  req.emuEntry.script_reply = scriptServed;
  return script.shift();
}

const EXPECT_KEYS = ['tools', 'last_role', 'contains', 'model'];

// What of a reply's expect the request does not meet, as one message, or
// null.  An unknown key is a mismatch too, so a typo cannot pass.
function scriptMismatch(r, body, n) {
  const e = r.expect;
  if (!e) return null;
  const wrong = [];
  for (const k of Object.keys(e)) if (!EXPECT_KEYS.includes(k)) wrong.push(`a known expect key (${EXPECT_KEYS.join(', ')}), got "${k}"`);
  const tools = Array.isArray(body.tools) && body.tools.length > 0;
  if (e.tools !== undefined && e.tools !== tools) wrong.push(`tools ${e.tools}, got ${tools ? `${body.tools.length} tools` : 'none'}`);
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  const last = msgs.length ? msgs[msgs.length - 1].role : null;
  if (e.last_role !== undefined && e.last_role !== last) wrong.push(`last_role "${e.last_role}", got "${last}"`);
  const text = renderMessages(body);
  for (const c of [].concat(e.contains ?? [])) if (!text.includes(c)) wrong.push(`messages containing ${JSON.stringify(c)}, got none`);
  if (e.model !== undefined && e.model !== body.model) wrong.push(`model "${e.model}", got "${body.model}"`);
  return wrong.length ? `emulator script, reply ${n}: expected ${wrong.join('; ')}` : null;
}

// TEXT cut into pieces of at least N bytes, never inside a character.
function utf8Pieces(text, n) {
  const out = [];
  let cur = '';
  let bytes = 0;
  for (const ch of text) {
    cur += ch;
    bytes += Buffer.byteLength(ch);
    if (bytes >= n) {
      out.push(cur);
      cur = '';
      bytes = 0;
    }
  }
  if (cur) out.push(cur);
  return out;
}

// A scripted text's pieces: chunk_bytes pieces, or words as the canned reply.
function scriptPieces(text, r) {
  if (typeof text !== 'string' || text === '') return [];
  return r.chunk_bytes > 0 ? utf8Pieces(text, r.chunk_bytes) : replyPieces(text);
}

function scriptCallId(entry, c, i) {
  return c.id ?? `call_emu${entry.script_reply}_${i}`;
}

// A scripted reply the way Ollama streams it: thinking, then content, then
// every native call whole in one chunk's message.tool_calls.
async function ollamaScripted(req, res, body, m, r) {
  const entry = req.emuEntry;
  const mismatch = scriptMismatch(r, body, entry.script_reply);
  if (mismatch) {
    entry.script_error = mismatch;
    return json(res, 500, errorBody(500, mismatch));
  }
  const calls = (r.tool_calls || []).map((c, i) => ({ id: scriptCallId(entry, c, i), function: { index: i, name: c.name, arguments: c.arguments ?? {} } }));
  const pieces = [];
  for (const t of scriptPieces(r.thinking, r)) pieces.push({ thinking: t });
  for (const t of scriptPieces(r.content, r)) pieces.push({ content: t });
  if (calls.length) pieces.push({ calls });
  entry.pieces_total = pieces.length;
  const base = () => ({ model: m.name, created_at: new Date().toISOString() });
  const done = { done: true, done_reason: 'stop', total_duration: 5123456789, load_duration: 41234567, prompt_eval_count: entry.prompt_n,
    prompt_eval_duration: 301234567, eval_count: pieces.length, eval_duration: take('eval_ns') || 470000000 };
  if (body.stream === false) {
    const message = { role: 'assistant', content: r.content || '' };
    if (r.thinking) message.thinking = r.thinking;
    if (calls.length) message.tool_calls = calls;
    json(res, 200, { ...base(), message, ...done });
    if (!clientGone(res)) entry.pieces_sent = pieces.length;
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  const ok = await streamPieces(res, pieces, (p) => {
    const message = { role: 'assistant', content: p.content || '' };
    if (p.thinking) message.thinking = p.thinking;
    if (p.calls) message.tool_calls = p.calls;
    res.write(JSON.stringify({ ...base(), message, done: false }) + '\n');
  }, { slow: r.slow_ms, stats: entry });
  if (!ok) return;
  if (take('midstream_error')) {
    res.write(inBandError(take('midstream_error')));
    return res.end();
  }
  if (!take('no_done')) res.write(JSON.stringify({ ...base(), message: { role: 'assistant', content: '' }, ...done }) + '\n');
  res.end();
}

// A scripted reply the way llama-server and LM Studio stream it: the role,
// reasoning_content, content, then each native call as a first chunk with
// its id and name and empty arguments, and the arguments string in pieces.
async function openaiScripted(req, res, body, m, r) {
  const entry = req.emuEntry;
  const mismatch = scriptMismatch(r, body, entry.script_reply);
  if (mismatch) {
    entry.script_error = mismatch;
    return json(res, 500, errorBody(500, mismatch));
  }
  const calls = (r.tool_calls || []).map((c, i) => ({ id: scriptCallId(entry, c, i), name: c.name,
    args: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}) }));
  const pieces = [{ role: true }];
  for (const t of scriptPieces(r.thinking, r)) pieces.push({ reasoning: t });
  for (const t of scriptPieces(r.content, r)) pieces.push({ content: t });
  calls.forEach((c, i) => {
    pieces.push({ tool_start: c, i });
    for (const a of utf8Pieces(c.args, r.chunk_bytes > 0 ? r.chunk_bytes : 8)) pieces.push({ tool_args: a, i });
  });
  const n = pieces.length - 1; // the role chunk is no token
  entry.pieces_total = n;
  const id = 'chatcmpl-emu';
  const created = Math.floor(Date.now() / 1000);
  const usage = { prompt_tokens: entry.prompt_n, completion_tokens: n, total_tokens: entry.prompt_n + n };
  const finish = calls.length ? 'tool_calls' : 'stop';
  const timings = kind === 'openai' ? llamaTimings(entry, n) : null;
  if (!body.stream) {
    const message = { role: 'assistant', content: r.content || (calls.length ? null : '') };
    if (r.thinking) message.reasoning_content = r.thinking;
    if (calls.length) message.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } }));
    json(res, 200, { id, object: 'chat.completion', created, model: m.name, choices: [{ index: 0, finish_reason: finish, message }], usage, ...(timings ? { timings } : {}) });
    if (!clientGone(res)) entry.pieces_sent = n;
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  const chunk = (delta, fin = null) => ({ id, object: 'chat.completion.chunk', created, model: m.name, choices: [{ index: 0, delta, finish_reason: fin }] });
  const send = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  const ok = await streamPieces(res, pieces, (p) => {
    if (p.role) send(chunk({ role: 'assistant', content: null }));
    else if (p.reasoning) send(chunk({ reasoning_content: p.reasoning }));
    else if (p.tool_start) send(chunk({ tool_calls: [{ index: p.i, id: p.tool_start.id, type: 'function', function: { name: p.tool_start.name, arguments: '' } }] }));
    else if (p.tool_args !== undefined) send(chunk({ tool_calls: [{ index: p.i, function: { arguments: p.tool_args } }] }));
    else send(chunk({ content: p.content }));
  }, { slow: r.slow_ms, stats: entry });
  if (!ok) return;
  if (take('midstream_error')) {
    res.write(inBandError(take('midstream_error')));
    return res.end();
  }
  openaiStreamEnd(res, body, chunk({}, finish), { id, object: 'chat.completion.chunk', created, model: m.name, choices: [], usage }, timings);
}

// The end of an OpenAI-dialect chat stream: the finish chunk, the usage
// chunk when stream_options.include_usage asks for it, llama-server's
// timings on whichever of them comes last (as its to_json_oaicompat_chat_
// stream does), then [DONE].
function openaiStreamEnd(res, body, finishChunk, usageChunk, timings) {
  const last = [finishChunk];
  if (body.stream_options?.include_usage) last.push(usageChunk);
  if (timings) last[last.length - 1].timings = timings;
  for (const c of last) res.write(`data: ${JSON.stringify(c)}\n\n`);
  if (!take('no_done')) res.write('data: [DONE]\n\n');
  res.end();
}

// llama-server's timings for a chat request counted by accountPrompt: its
// prompt_n is the prompt tokens it evaluated, the cached ones left out
// (cache_n + prompt_n is the whole prompt).  Durations are fixed, as the
// Ollama counters' are, so rates are the same on every run.
function llamaTimings(entry, predictedN) {
  const evaluated = entry.prompt_n - entry.cache_n;
  const promptMs = evaluated * 0.25;
  // 40 tokens/s unless eval_ns says otherwise.
  const predictedMs = (take('eval_ns') || predictedN * 25e6) / 1e6;
  const perSecond = (count, ms) => (ms > 0 ? (count * 1000) / ms : 0);
  return {
    cache_n: entry.cache_n, prompt_n: evaluated, prompt_ms: promptMs, prompt_per_token_ms: evaluated ? promptMs / evaluated : 0,
    prompt_per_second: perSecond(evaluated, promptMs), predicted_n: predictedN, predicted_ms: predictedMs,
    predicted_per_token_ms: predictedN ? predictedMs / predictedN : 0, predicted_per_second: perSecond(predictedN, predictedMs),
  };
}

// Whether the client has gone: its connection closed or was reset.
function clientGone(res) {
  return res.destroyed || Boolean(res.socket && res.socket.destroyed);
}

// What each server says a model can do (tool calling, here), in its own
// place: Ollama's /api/show capabilities, LM Studio's /api/v0/models
// capabilities, llama-server's /props chat_template_caps.
function ollamaCapabilities(m) {
  return m.caps || ['completion', 'tools'];
}

function lmstudioCapabilities(m) {
  return m.caps ? { capabilities: m.caps } : {};
}

// GET /props as llama-server answers it (tools/server, handle_props): the
// slot's settings, the model, and what its chat template supports.
function llamacppProps() {
  const m = models[0];
  return {
    default_generation_settings: { id: 0, id_task: -1, n_ctx: m.n_ctx, speculative: false, is_processing: false,
      params: { n_predict: -1, temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, stream: true } },
    total_slots: 1,
    model_alias: m.name,
    model_path: `/models/${m.name}.gguf`,
    modalities: { vision: false, audio: false },
    chat_template: '{%- for message in messages %}{{ message.content }}{%- endfor %}',
    chat_template_caps: { supports_tools: true, supports_tool_calls: true, supports_system_role: true, supports_parallel_tool_calls: true,
      supports_preserve_reasoning: false, requires_typed_content: false, requires_non_null_content: false },
    bos_token: '<s>',
    eos_token: '</s>',
    build_info: 'b6000-emu',
    is_sleeping: false,
  };
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  const raw = req.method === 'POST' ? await readBody(req) : '';
  if (path.startsWith('/_emu/')) {
    if (path === '/_emu/fault') { faults = JSON.parse(raw || '{}'); return json(res, 200, { ok: true }); }
    if (path === '/_emu/log') return json(res, 200, log);
    if (path === '/_emu/reset') { faults = {}; log = []; scriptReset(); return json(res, 200, { ok: true }); }
    if (path === '/_emu/script') return scriptControl(req, res, raw);
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
  const entry = { method: req.method, path, body, auth: req.headers.authorization || null, at: Date.now(), at_us: Number(process.hrtime.bigint() / 1000n), closed_at: null, closed_us: null, finished: false };
  log.push(entry);
  req.emuEntry = entry;
  res.on('close', () => {
    entry.closed_at = Date.now();
    entry.closed_us = Number(process.hrtime.bigint() / 1000n);
    entry.finished = res.writableFinished;
    if (entry.pieces_total !== undefined && !res.writableFinished) entry.closed_early = true;
  });
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
        details: { parent_model: '', format: 'gguf', family: m.family, families: [m.family], parameter_size: m.params, quantization_level: m.quant },
        ...(take('tags_caps') ? { capabilities: ollamaCapabilities(m) } : {}) })) });
    }
    if (path === '/api/ps') {
      const m = models[0];
      return json(res, 200, { models: [{ name: m.name, model: m.name, size: 19000000000, size_vram: 19000000000, digest: 'a'.repeat(64),
        details: { format: 'gguf', family: m.family, quantization_level: m.quant }, expires_at: '2026-05-01T09:35:00.1+02:00', context_length: 32768 }] });
    }
    if (path === '/api/show') {
      if (take('show_ms')) await sleep(take('show_ms'));
      const m = findModel(body.model || body.name);
      if (!m) return json(res, 404, { error: `model '${body.model || body.name}' not found` });
      return json(res, 200, { modelfile: '', parameters: 'num_ctx                        8192', template: '', details: { format: 'gguf', family: m.family, quantization_level: m.quant },
        model_info: { 'general.architecture': m.family, [`${m.family}.context_length`]: m.ctx || 262144 }, capabilities: ollamaCapabilities(m) });
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
      compatibility_type: 'gguf', quantization: m.quant, state: m.state, max_context_length: m.max, ...(m.state === 'loaded' ? { loaded_context_length: m.loaded } : {}),
      ...lmstudioCapabilities(m) })) });
  }
  if (kind === 'openai' && path === '/props' && take('props') !== 'none') {
    const props = llamacppProps();
    if (take('props') === 'notools') props.chat_template_caps = { ...props.chat_template_caps, supports_tools: false, supports_tool_calls: false };
    return json(res, 200, props);
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
