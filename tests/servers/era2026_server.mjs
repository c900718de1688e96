// A small MCP server written with the 2.x TypeScript SDK (@modelcontextprotocol/server), which
// serves the 2026-07-28 revision (server/discover, per-request _meta) and falls back to the
// 2025 era for clients that open with initialize. The era tests run mcpd against it.
//
//   node era2026_server.mjs stdio          serve over stdin/stdout
//   node era2026_server.mjs http PORT      serve Streamable HTTP at http://127.0.0.1:PORT/mcp
//
// Tools: echo {message} -> the message; add {a, b} -> the sum as text and structuredContent;
// confirm -> asks the client to confirm (an elicitation input request, input_required);
// resume_later -> input_required with only a requestState.
import http from 'node:http';
import { McpServer, createMcpHandler, fromJsonSchema, inputRequired } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { toNodeHandler } from '@modelcontextprotocol/node';

const object = (properties, required = Object.keys(properties)) =>
  fromJsonSchema({ type: 'object', properties, required });

function makeServer() {
  const server = new McpServer({ name: 'era2026-test-server', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('echo', { description: 'Echoes the message', inputSchema: object({ message: { type: 'string' } }) },
    async ({ message }) => ({ content: [{ type: 'text', text: message }] }));
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: object({ a: { type: 'number' }, b: { type: 'number' } }),
                               outputSchema: object({ sum: { type: 'number' } }) },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } }));
  server.registerTool('confirm', { description: 'Asks the client to confirm first', inputSchema: object({}) },
    async () => inputRequired({
      inputRequests: {
        confirm: inputRequired.elicit({
          message: 'Really go ahead?',
          requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
        }),
      },
    }));
  server.registerTool('resume_later', { description: 'Needs another round trip', inputSchema: object({}) },
    async () => inputRequired({ requestState: 'step-2' }));
  return server;
}

const [mode, port] = process.argv.slice(2);
if (mode === 'stdio') {
  serveStdio(() => makeServer(), { onerror: (e) => console.error(`era2026 stdio: ${e.message}`) });
} else if (mode === 'http' && port) {
  const handler = toNodeHandler(createMcpHandler(() => makeServer(), { onerror: (e) => console.error(`era2026 http: ${e.message}`) }));
  const listener = http.createServer((req, res) => {
    if (new URL(req.url, 'http://localhost').pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    handler(req, res);
  });
  listener.listen(Number(port), '127.0.0.1', () => console.error(`era2026 listening on http://127.0.0.1:${port}/mcp`));
  process.on('SIGTERM', () => listener.close(() => process.exit(0)));
} else {
  console.error('usage: era2026_server.mjs stdio | http PORT');
  process.exit(2);
}
