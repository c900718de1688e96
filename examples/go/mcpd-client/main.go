// mcpd-client is a small example of calling MCP tools through mcpd over NATS from Go.
//
// It lists the tools of one MCP server registered with mcpd, then calls one of them and
// prints the result. Everything it does is plain NATS request-reply with JSON bodies (the
// "NATS contract v1", see proto-schemas/README.md in the mcpd repository):
//
//	mcp.<server>.list-tools   {}              -> MCPToolListReply
//	mcp.<server>.execute      MCPToolRequest  -> MCPToolReply
//
// Build (Debian: apt-get install golang-go golang-github-nats-io-go-nats-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o mcpd-client ./examples/go/mcpd-client
//
// Run:
//
//	MCPD_NATS_URL=nats://127.0.0.1:4222 ./mcpd-client -server everything -tool echo -args '{"message":"hi from Go"}'
//
// Exit status: 0 done; 1 the request failed (mcpd's error, or no answer); 2 bad flags.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// MCPToolRequest is the body of mcp.<server>.execute (proto-schemas/tool-request.schema.json).
// Only Tool is required; mcpd ignores fields it does not know.
type MCPToolRequest struct {
	Tool      string          `json:"tool"`
	Args      json.RawMessage `json:"args,omitempty"`       // a JSON object; absent means {}
	SessionID string          `json:"session_id,omitempty"` // affinity: same id, same MCP session
	TimeoutMs int64           `json:"timeout_ms,omitempty"` // deadline of the call in mcpd
	Format    string          `json:"format,omitempty"`     // "compat" (default) or "mcp"
	RequestID string          `json:"request_id,omitempty"` // echoed in the reply
}

// MCPToolReply is the reply to mcp.<server>.execute (proto-schemas/tool-reply.schema.json).
// On success Result is set; on failure Error (a message for people) and Code (a machine kind:
// invalid_request, unknown_tool, tool_error, timeout, unavailable, overloaded, ...).
type MCPToolReply struct {
	Result       json.RawMessage `json:"result,omitempty"` // compat: a string, or structuredContent
	Error        string          `json:"error,omitempty"`
	Code         string          `json:"code,omitempty"`
	SessionReset bool            `json:"session_reset,omitempty"`
	RequestID    string          `json:"request_id,omitempty"`
}

// Tool is one MCP tool definition as the MCP server listed it (only the fields we print are
// typed; keep the rest as raw JSON if you need it).
type Tool struct {
	Name        string          `json:"name"`
	Title       string          `json:"title,omitempty"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// MCPToolListReply is the reply to mcp.<server>.list-tools
// (proto-schemas/tool-list-reply.schema.json). Tools is always an array, empty on failure.
type MCPToolListReply struct {
	Tools []Tool `json:"tools"`
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

// mcpdError is a failure reported by mcpd in a reply body.
type mcpdError struct{ Code, Message string }

func (e *mcpdError) Error() string { return e.Code + ": " + e.Message }

func main() {
	defaultURL := os.Getenv("MCPD_NATS_URL")
	if defaultURL == "" {
		defaultURL = nats.DefaultURL // nats://127.0.0.1:4222
	}
	natsURL := flag.String("nats", defaultURL, "NATS server URL(s), comma-separated; $MCPD_NATS_URL sets the default")
	prefix := flag.String("prefix", "mcp", "subject prefix of the mcpd cluster")
	server := flag.String("server", "everything", "name of the MCP server registered with mcpd")
	tool := flag.String("tool", "echo", "tool to call")
	args := flag.String("args", `{"message":"hi from Go"}`, "the tool's arguments, a JSON object")
	timeout := flag.Duration("timeout", 30*time.Second, "deadline of the tool call")
	flag.Parse()
	if flag.NArg() > 0 {
		usage("unexpected argument %q", flag.Arg(0))
	}
	// Check the arguments here: a typo should not cost a round trip.
	var argsObj map[string]interface{}
	if err := json.Unmarshal([]byte(*args), &argsObj); err != nil || argsObj == nil {
		usage("-args must be a JSON object, got %q", *args)
	}

	if err := run(*natsURL, *prefix, *server, *tool, json.RawMessage(*args), *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "mcpd-client:", err)
		os.Exit(1)
	}
}

func run(natsURL, prefix, server, tool string, args json.RawMessage, timeout time.Duration) error {
	nc, err := nats.Connect(natsURL, nats.Name("mcpd-client-go"), nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("cannot connect to NATS at %s: %v", natsURL, err)
	}
	defer nc.Close()

	// 1. List the server's tools.
	var list MCPToolListReply
	if err := request(nc, prefix+"."+server+".list-tools", struct{}{}, &list, 10*time.Second); err != nil {
		return err
	}
	if list.Error != "" {
		return &mcpdError{list.Code, list.Error}
	}
	fmt.Printf("tools of %s (%d):\n", server, len(list.Tools))
	for _, t := range list.Tools {
		fmt.Printf("  %-24s %s\n", t.Name, firstLine(t.Description))
	}

	// 2. Call one tool. mcpd gives up after timeout_ms; we wait a little longer for its reply.
	req := MCPToolRequest{Tool: tool, Args: args, TimeoutMs: timeout.Milliseconds()}
	var reply MCPToolReply
	if err := request(nc, prefix+"."+server+".execute", req, &reply, timeout+5*time.Second); err != nil {
		return err
	}
	if reply.Error != "" {
		return &mcpdError{reply.Code, reply.Error}
	}
	fmt.Printf("result of %s:\n%s\n", tool, formatResult(reply.Result))
	return nil
}

// request sends body as JSON to subject and decodes the reply into out.
func request(nc *nats.Conn, subject string, body interface{}, out interface{}, timeout time.Duration) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	msg, err := nc.Request(subject, data, timeout)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("no mcpd node serves %s: is mcpd running and connected to this NATS server?", subject)
	case errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("no reply to %s within %v", subject, timeout)
	case err != nil:
		return fmt.Errorf("request to %s failed: %v", subject, err)
	}
	// Failures also carry the headers Nats-Service-Error and Nats-Service-Error-Code (for
	// generic NATS tooling); the body says the same, with the contract's code.
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("bad reply from %s: %v", subject, err)
	}
	return nil
}

// formatResult prints a text result as it is and any other JSON value indented.
func formatResult(result json.RawMessage) string {
	var text string
	if json.Unmarshal(result, &text) == nil {
		return text
	}
	var buf bytes.Buffer
	if json.Indent(&buf, result, "", "  ") != nil {
		return string(result)
	}
	return buf.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func usage(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "mcpd-client: "+format+"\n", a...)
	flag.Usage()
	os.Exit(2)
}
