#!/usr/bin/env node
// mcpd-client.mjs: a small example of calling MCP tools through mcpd over NATS from Node.js.
//
// It lists the tools of one MCP server registered with mcpd, then calls one of them and prints
// the result. Everything it does is plain NATS request-reply with JSON bodies (the "NATS
// contract v1", see proto-schemas/README.md in the mcpd repository):
//
//   mcp.<server>.list-tools   {}              -> MCPToolListReply
//   mcp.<server>.execute      MCPToolRequest  -> MCPToolReply
//
// Install and run (Node.js >= 18):
//
//   npm ci
//   MCPD_NATS_URL=nats://127.0.0.1:4222 node mcpd-client.mjs --server everything \
//       --tool echo --args '{"message":"hi from Node"}'
//
// Exit status: 0 done; 1 the request failed (mcpd's error, or no answer); 2 bad options.

import { parseArgs } from "node:util";
import { connect, ErrorCode } from "nats";

const USAGE = `Usage: node mcpd-client.mjs [--nats URL] [--prefix mcp] [--server NAME]
                          [--tool NAME] [--args JSON] [--timeout MS]

  --nats URL      NATS server URL(s), comma-separated
                  (default: $MCPD_NATS_URL, else nats://127.0.0.1:4222)
  --prefix P      subject prefix of the mcpd cluster (default: mcp)
  --server NAME   MCP server registered with mcpd (default: everything)
  --tool NAME     tool to call (default: echo)
  --args JSON     the tool's arguments, a JSON object (default: {"message":"hi from Node"})
  --timeout MS    deadline of the tool call in milliseconds (default: 30000)`;

/**
 * MCPToolRequest: the body of mcp.<server>.execute (proto-schemas/tool-request.schema.json).
 * Only `tool` is required; mcpd ignores fields it does not know.
 * @typedef {object} MCPToolRequest
 * @property {string} tool
 * @property {object} [args]        the tool's arguments; absent means {}
 * @property {string} [session_id]  affinity: calls with the same id reach the same MCP session
 * @property {number} [timeout_ms]  deadline of the call in mcpd
 * @property {"compat"|"mcp"} [format]  compat (default): text or structuredContent; mcp: everything
 * @property {string} [request_id]  echoed in the reply
 */

/**
 * MCPToolReply: the reply to mcp.<server>.execute (proto-schemas/tool-reply.schema.json).
 * On success `result` is set; on failure `error` (a message for people) and `code` (a machine
 * kind: invalid_request, unknown_tool, tool_error, timeout, unavailable, overloaded, ...).
 * @typedef {object} MCPToolReply
 * @property {*} [result]   compat: a string, or the tool's structuredContent
 * @property {string} [error]
 * @property {string} [code]
 * @property {boolean} [session_reset]
 * @property {string} [request_id]
 */

/**
 * MCPToolListReply: the reply to mcp.<server>.list-tools
 * (proto-schemas/tool-list-reply.schema.json). `tools` is always an array, empty on failure.
 * @typedef {object} MCPToolListReply
 * @property {{name: string, title?: string, description?: string, inputSchema: object}[]} tools
 * @property {string} [error]
 * @property {string} [code]
 */

/** A failure reported by mcpd in a reply body. */
class McpdError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

function usage(message) {
  console.error(`mcpd-client: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        nats: { type: "string", default: process.env.MCPD_NATS_URL || "nats://127.0.0.1:4222" },
        prefix: { type: "string", default: "mcp" },
        server: { type: "string", default: "everything" },
        tool: { type: "string", default: "echo" },
        args: { type: "string", default: '{"message":"hi from Node"}' },
        timeout: { type: "string", default: "30000" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    usage(err.message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  // Check the arguments here: a typo should not cost a round trip.
  let args;
  try {
    args = JSON.parse(values.args);
  } catch {
    // handled below
  }
  if (args === null || typeof args !== "object" || Array.isArray(args)) {
    usage(`--args must be a JSON object, got ${JSON.stringify(values.args)}`);
  }
  const timeout = Number(values.timeout);
  if (!Number.isInteger(timeout) || timeout <= 0) usage(`--timeout must be a positive integer (ms)`);
  return { ...values, args, timeout };
}

/** Sends `body` as JSON to `subject` and returns the decoded reply. */
async function request(nc, subject, body, timeout) {
  let msg;
  try {
    msg = await nc.request(subject, JSON.stringify(body), { timeout });
  } catch (err) {
    if (err.code === ErrorCode.NoResponders) {
      throw new Error(`no mcpd node serves ${subject}: is mcpd running and connected to this NATS server?`);
    }
    if (err.code === ErrorCode.Timeout) throw new Error(`no reply to ${subject} within ${timeout} ms`);
    throw new Error(`request to ${subject} failed: ${err.message}`);
  }
  // Failures also carry the headers Nats-Service-Error and Nats-Service-Error-Code (for generic
  // NATS tooling); the body says the same, with the contract's code.
  try {
    return msg.json();
  } catch (err) {
    throw new Error(`bad reply from ${subject}: ${err.message}`);
  }
}

async function main() {
  const opts = parseOptions();
  let nc;
  try {
    nc = await connect({ servers: opts.nats.split(","), name: "mcpd-client-node", timeout: 5000 });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${opts.nats}: ${err.message}`);
  }
  try {
    // 1. List the server's tools.
    /** @type {MCPToolListReply} */
    const list = await request(nc, `${opts.prefix}.${opts.server}.list-tools`, {}, 10000);
    if (list.error) throw new McpdError(list.code, list.error);
    console.log(`tools of ${opts.server} (${list.tools.length}):`);
    for (const t of list.tools) {
      console.log(`  ${t.name.padEnd(24)} ${(t.description ?? "").split("\n")[0]}`);
    }

    // 2. Call one tool. mcpd gives up after timeout_ms; we wait a little longer for its reply.
    /** @type {MCPToolRequest} */
    const req = { tool: opts.tool, args: opts.args, timeout_ms: opts.timeout };
    /** @type {MCPToolReply} */
    const reply = await request(nc, `${opts.prefix}.${opts.server}.execute`, req, opts.timeout + 5000);
    if (reply.error) throw new McpdError(reply.code, reply.error);
    // A text result as it is, any other JSON value (structuredContent) indented.
    const text = typeof reply.result === "string" ? reply.result : JSON.stringify(reply.result, null, 2);
    console.log(`result of ${opts.tool}:\n${text}`);
  } finally {
    await nc.close();
  }
}

main().catch((err) => {
  console.error(`mcpd-client: ${err.message}`);
  process.exitCode = 1;
});
