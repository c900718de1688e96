// A server of the 2024-11-05 revision on the legacy HTTP+SSE transport, written with the
// TypeScript SDK 1.0.4 (installed under the alias mcp-sdk-2024): nothing current on npm still
// speaks only this revision. The era tests run mcpd against it.
//
//   node legacy2024_sse_server.mjs PORT    GET http://127.0.0.1:PORT/sse opens the stream; its
//                                          `endpoint` event names the POST URL (/messages?...)
//
// Tools: echo {message} -> the message; add {a, b} -> the sum as text.
import http from 'node:http';
import { Server } from 'mcp-sdk-2024/server/index.js';
import { SSEServerTransport } from 'mcp-sdk-2024/server/sse.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from 'mcp-sdk-2024/types.js';

const tools = [
  { name: 'echo', description: 'Echoes the message',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } },
  { name: 'add', description: 'Adds two numbers',
    inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } },
];

function makeServer() {
  const server = new Server({ name: 'legacy2024-test-server', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const { name, arguments: args = {} } = request.params;
    if (name === 'echo') return { content: [{ type: 'text', text: String(args.message) }] };
    if (name === 'add') return { content: [{ type: 'text', text: String(args.a + args.b) }] };
    return { content: [{ type: 'text', text: `Unknown tool: ${name}` }], isError: true };
  });
  return server;
}

const port = Number(process.argv[2]);
if (!port) {
  console.error('usage: legacy2024_sse_server.mjs PORT');
  process.exit(2);
}
const sessions = new Map();  // sessionId -> transport: one server per SSE stream
const listener = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/sse') {
    const transport = new SSEServerTransport('/messages', res);
    sessions.set(transport.sessionId, transport);
    res.on('close', () => sessions.delete(transport.sessionId));
    await makeServer().connect(transport);
    return;
  }
  if (req.method === 'POST' && url.pathname === '/messages') {
    const transport = sessions.get(url.searchParams.get('sessionId'));
    if (!transport) {
      res.writeHead(404).end('no such session');
      return;
    }
    await transport.handlePostMessage(req, res);
    return;
  }
  res.writeHead(404).end();
});
listener.listen(port, '127.0.0.1', () => console.error(`legacy2024 listening on http://127.0.0.1:${port}/sse`));
process.on('SIGTERM', () => process.exit(0));
