// A small MCP server for probe-test.sh, in one of several behaviours:
//
//   node probe-mock-server.js PORT MODE [CERT KEY]
//
// MODE: ok (Streamable HTTP, JSON answers), auth (401 unless "Authorization: Bearer sekret"),
// stall (accepts requests, never answers), oldver (answers initialize with 2024-10-07, a revision mcpd does not speak), tls
// (ok over HTTPS with CERT and KEY), sse (the legacy HTTP+SSE transport: GET /sse, POST
// /message). Tools: "t" (answers "ok") and "broken" (answers isError: true).
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');

const [port, mode, cert, key] = [Number(process.argv[2]), process.argv[3], process.argv[4], process.argv[5]];

function answer(m) {
  if (m.method === 'initialize') {
    return {
      protocolVersion: mode === 'oldver' ? '2024-10-07' : (mode === 'sse' ? '2025-03-26' : '2025-06-18'),
      serverInfo: { name: 'probe-mock', version: '1.2.3' },
      capabilities: { tools: { listChanged: true }, logging: {} },
      instructions: 'A mock server for mcpctl probe.\nSecond line.',
    };
  }
  if (m.method === 'tools/list') {
    return {
      tools: [
        { name: 't', description: 'Answers ok.\nMore text.', inputSchema: { type: 'object', properties: { x: { type: 'string' }, y: { type: 'number' } }, required: ['y'] } },
        { name: 'broken', description: 'Always fails.', inputSchema: { type: 'object' } },
      ],
    };
  }
  if (m.method === 'tools/call') {
    if (m.params.name === 't') return { content: [{ type: 'text', text: 'ok ' + JSON.stringify(m.params.arguments || {}) }] };
    if (m.params.name === 'broken') return { content: [{ type: 'text', text: 'it broke' }], isError: true };
    return null;
  }
  return {};
}

function reply(m) {
  const result = answer(m);
  if (result === null) return { jsonrpc: '2.0', id: m.id, error: { code: -32602, message: 'Unknown tool: ' + m.params.name } };
  return { jsonrpc: '2.0', id: m.id, result };
}

let sseStream = null;
function handle(req, res) {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (mode === 'auth' && req.headers['authorization'] !== 'Bearer sekret') {
      res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer' });
      return res.end('missing or wrong bearer token');
    }
    if (mode === 'stall') return;  // never answers
    if (mode === 'sse') {
      if (req.method === 'GET' && req.url === '/sse') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.write('event: endpoint\ndata: /message?sessionId=1\n\n');
        sseStream = res;
        return;
      }
      if (req.method === 'POST' && req.url.startsWith('/message') && sseStream) {
        const m = JSON.parse(body);
        res.writeHead(202);
        res.end('Accepted');
        if (m.id !== undefined) sseStream.write('event: message\ndata: ' + JSON.stringify(reply(m)) + '\n\n');
        return;
      }
      res.writeHead(404);
      return res.end('not found');
    }
    if (req.method !== 'POST') {
      res.writeHead(405);
      return res.end();
    }
    const m = JSON.parse(body);
    if (m.id === undefined) {
      res.writeHead(202);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(reply(m)));
  });
}

const server = mode === 'tls'
  ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handle)
  : http.createServer(handle);
server.listen(port, '127.0.0.1', () => console.log(`listening on ${port} (${mode})`));
