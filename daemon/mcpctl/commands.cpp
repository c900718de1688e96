// The command table of mcpctl: every command's name, options, help text and function. main()
// parses, dispatches and prints help from these rows only, so a command is added here.
#include "commands.hpp"

#include <array>

namespace mcpd::mcpctl {
namespace {

constexpr OptionSpec kGlobalOptions[] = {
    {"nats", 0, "URL", "NATS server URL(s), comma-separated (default: $MCPD_NATS_URL,\nelse the local node's credentials file's url, else\nnats://127.0.0.1:4222; see \"Where the NATS server and login\ncome from\" below)"},
    {"user", 0, "USER", "NATS user name, with --password (default: $MCPD_NATS_USER)"},
    {"password", 0, "PASSWORD", "NATS password (default: $MCPD_NATS_PASSWORD; prefer it: a\nflag's value is visible to other users in ps)"},
    {"token", 0, "TOKEN", "NATS authentication token (default: $MCPD_NATS_TOKEN)"},
    {"creds", 0, "FILE", "NATS user credentials (.creds: JWT and seed)\n(default: $MCPD_NATS_CREDS)"},
    {"nkey", 0, "FILE", "NATS user nkey seed file, SU...\n(default: $MCPD_NATS_NKEY_SEED)"},
    {"tls-ca", 0, "FILE", "CA certificate(s) (PEM) to verify the NATS server with\n(default: $MCPD_NATS_TLS_CA); any --tls-* turns TLS on"},
    {"tls-cert", 0, "FILE", "client certificate (PEM) for mutual TLS\n(default: $MCPD_NATS_TLS_CERT)"},
    {"tls-key", 0, "FILE", "the client certificate's key (PEM)\n(default: $MCPD_NATS_TLS_KEY)"},
    {"prefix", 0, "PREFIX", "subject prefix of the mcpd cluster (default: mcp)"},
    {"timeout", 0, "MS", "how long to wait for mcpd's reply, in milliseconds\n(default: 10000; for call: its --timeout + 5000, else 35000)"},
    {"json", 0, {}, "print mcpd's reply as JSON, as it was sent, instead of text"},
    {"verbose", 'v', {}, "log NATS connection events to stderr"},
    {"help", 'h', {}, "show help (after a command: that command's help)"},
    {"version", 0, {}, "print mcpctl's version"},
};

constexpr OptionSpec kServerAddOptions[] = {
    {"command", 0, "CMD", "program to start and talk to over stdio (searched on the\ndaemon's PATH; e.g. npx, /usr/local/bin/my-server)"},
    {"arg", 0, "ARG", "one argument for --command; repeat for more\n(or put them after '--' at the end)", true},
    {"env", 0, "K=V", "environment variable of the process; V may say ${VAR}, taken\nfrom the daemon's environment when it starts the process", true},
    {"cwd", 0, "DIR", "working directory of the process (an absolute path)"},
    {"inherit-env", 0, {}, "give the process the daemon's whole environment\n(default: PATH, HOME, USER, LANG, TZ and a few more, plus --env)"},
    {"url", 0, "URL", "address of a remote MCP server (http:// or https://)"},
    {"transport", 0, "T", "http (Streamable HTTP; the default with --url) or sse"},
    {"header", 0, "K=V", "HTTP header sent with every request ('K: V' works too);\nV may say ${VAR}", true},
    {"builtin", 0, "NAME", "one of mcpd's own in-process servers: mcpd (tools that\nreport the cluster: servers, nodes, sessions, tasks)"},
    {"token-env", 0, "VAR", "bearer token: read from environment variable VAR on each node"},
    {"token-file", 0, "PATH", "bearer token: read from file PATH (absolute) on each node"},
    {"oauth", 0, {}, "OAuth 2.1 (http only): client_credentials, or a grant from\n`mcpctl auth login`; registers a client unless --client-id"},
    {"client-id", 0, "ID", "OAuth: the client registered with the authorization server"},
    {"client-secret-env", 0, "VAR", "OAuth: its secret (or PEM key) from environment variable VAR\non each node"},
    {"client-secret-file", 0, "PATH", "OAuth: its secret (or PEM key) from file PATH on each node"},
    {"scope", 0, "S", "OAuth: a scope always asked for", true},
    {"min-sessions", 0, "N", "sessions kept open even when idle (default 1)"},
    {"max-sessions", 0, "N", "most shared sessions at once (default 4)"},
    {"isolation", 0, "MODE", "session (default): each --session ID of `call` gets an MCP\nsession of its own; shared: calls with an ID stick to one\nof the shared sessions"},
    {"call-timeout-ms", 0, "N", "deadline of a tool call unless the caller sets one (default 30000)"},
    {"description", 0, "TEXT", "a note for people, shown by `server show`"},
    {"disabled", 0, {}, "register the server without starting it"},
    {"file", 0, "FILE", "read the whole MCPServer JSON document from FILE ('-': stdin);\nthe way to set fields without a flag (maxInflightPerSession,\nidleTtlSeconds, ...; see proto-schemas/server.schema.json)"},
};

constexpr OptionSpec kCallOptions[] = {
    {"args", 0, "JSON", "the tool's arguments: a JSON object (default {});\n'-' reads it from stdin, @FILE from a file"},
    {"session", 0, "ID", "session affinity: calls with the same ID reach the same MCP\nsession, so the server's state for it is kept between calls"},
    {"timeout", 0, "MS", "deadline of this call (default: the server's callTimeoutMs);\nmcpctl waits 5 s longer than that for the reply (not with --task)"},
    {"format", 0, "F", "compat (default): the text of the result, or its\nstructuredContent; mcp: the whole MCP CallToolResult\n(images, audio and resources summarised unless --json)"},
    {"progress", 0, {}, "print the server's progress notifications on stderr, a line\neach (on a terminal a progress bar is shown anyway)"},
    {"task", 0, {}, "run the call as a task: its status is shown on stderr while\nit runs, then its result printed; Ctrl-C leaves it running"},
    {"ttl", 0, "MS", "with --task: how long mcpd keeps the task and its result,\nfrom its start (default: the node's [tasks] default, 1 hour)"},
    {"owner", 0, "O", "with --task: who owns the task (default: --session's ID,\nelse nobody); `mcpctl tasks ... --owner O` then finds it"},
};

constexpr OptionSpec kResourcesOptions[] = {
    {"templates", 0, {}, "list the server's resource templates (URI patterns) instead"},
};

constexpr OptionSpec kReadOptions[] = {
    {"timeout", 0, "MS", "deadline of the read (default: the server's callTimeoutMs)"},
};

constexpr OptionSpec kPromptOptions[] = {
    {"arg", 0, "K=V", "one argument of the prompt; repeat for more", true},
};

constexpr OptionSpec kCompleteOptions[] = {
    {"prompt", 0, "NAME", "complete an argument of this prompt"},
    {"template", 0, "URI", "complete a variable of this resource template (its uriTemplate)"},
    {"arg", 0, "K=V", "the argument (or template variable) K and what is typed of it so far"},
    {"context", 0, "K=V", "an argument already chosen, for completions that depend on it;\nrepeat for more", true},
};

// Whose task a `tasks` command means; every one of them takes these two.
constexpr OptionSpec kTaskOwner{"owner", 0, "O", "the task's owner, as given to `call --task --owner O`"};
constexpr OptionSpec kTaskSession{"session", 0, "ID", "without --owner: the --session ID the task was created with\n(its owner then)"};

constexpr OptionSpec kTaskOwnerOptions[] = {kTaskOwner, kTaskSession};

constexpr OptionSpec kTasksLsOptions[] = {
    {"status", 0, "S", "only tasks in status S: working, input_required, completed,\nfailed or cancelled"},
    {"limit", 0, "N", "at most N tasks, the newest (default: all)"},
    kTaskOwner,
    kTaskSession,
};

constexpr OptionSpec kTasksResultOptions[] = {
    {"wait", 0, "MS", "wait up to MS milliseconds for a task still running to end\n(default 0: answer at once; at most 600000)"},
    kTaskOwner,
    kTaskSession,
};

constexpr OptionSpec kTasksInputOptions[] = {
    {"response", 0, "JSON", "the answer to the server's request: a JSON object, e.g.\n'{\"action\": \"accept\", \"content\": {...}}' for an elicitation;\n'-' reads it from stdin, @FILE from a file"},
    kTaskOwner,
    kTaskSession,
};

constexpr OptionSpec kProbeOptions[] = {
    {"url", 0, "URL", "the server's MCP endpoint (http:// or https://), or its SSE\nURL with --transport sse"},
    {"transport", 0, "T", "http (Streamable HTTP; the default) or sse (legacy HTTP+SSE)"},
    {"header", 0, "K=V", "HTTP header sent with every request ('K: V' works too);\nV may say ${VAR}, taken from this environment", true},
    {"token-env", 0, "VAR", "bearer token: read from environment variable VAR"},
    {"token-file", 0, "PATH", "bearer token: read from file PATH"},
    {"ca-file", 0, "PATH", "PEM bundle of the CA(s) to verify the server with\n(default: the system's)"},
    {"insecure", 0, {}, "do not verify the server's TLS certificate (testing only)"},
    {"timeout", 0, "MS", "deadline of each step: connecting and initialize, tools/list,\nthe call (default 10000)"},
    {"call", 0, "TOOL", "also call TOOL and print its whole result"},
    {"args", 0, "JSON", "the tool's arguments for --call: a JSON object (default {});\n'-' reads it from stdin, @FILE from a file"},
};

constexpr OptionSpec kAuthLoginOptions[] = {
    {"url", 0, "URL", "the server's MCP endpoint (default: the record's url, asked of mcpd)"},
    {"client-id", 0, "ID", "a client registered with the authorization server\n(default: the record's clientId, else register one)"},
    {"client-secret-env", 0, "VAR", "that client's secret, read from environment variable VAR"},
    {"client-metadata-url", 0, "URL", "an https URL serving this client's metadata document, used as\nits client id where the server supports those (CIMD)"},
    {"scope", 0, "S", "a scope to ask for besides the server's own choice", true},
    {"port", 0, "N", "loopback port for the redirect (default: any free one)"},
    {"browser-command", 0, "CMD", "run CMD URL to open the authorization URL (e.g. xdg-open)"},
    {"redirect-wait", 0, "SECONDS", "how long to wait for the redirect (default 300)"},
    {"node", 0, "ID", "hand the grant to this node only (default: every live node)", true},
    {"wait", 0, "MS", "how long to collect the live nodes' answers (default 500)"},
    {"state-dir", 0, "DIR", "write the grant file of the node on this machine whose catalog\nis in DIR (DIR/oauth/NAME.json) instead of handing it over NATS"},
    {"ca-file", 0, "PATH", "PEM bundle of the CA(s) to verify the servers with"},
    {"insecure", 0, {}, "do not verify TLS certificates (testing only)"},
};

constexpr std::string_view kAuthLoginDetails = R"HELP(Authorizes mcpd toward a remote MCP server (auth {"type": "oauth"}) whose authorization
server wants a person's consent: the OAuth 2.1 authorization-code flow with PKCE. It finds the
server's authorization server (protected-resource and authorization-server metadata), uses the
record's client or registers one, prints the authorization URL, receives the redirect on
http://127.0.0.1:PORT/callback, and exchanges the code for tokens.

The grant (access and refresh token, and a registered client) then goes to every live node
(or those given with --node) over NATS, sealed to each node's own X25519 key: only that node
can read it, nothing readable crosses the bus. Each node stores it beside its catalog
(oauth/NAME.json, mode 0600), uses it from its next connection and refreshes it by itself.
With --state-dir DIR the grant file of a node on this machine is written directly instead.

Examples:
  mcpctl auth login github
  mcpctl auth login github --browser-command xdg-open --node node-1
  mcpctl auth login test --url http://127.0.0.1:3000/mcp --state-dir ./.mcpd
)HELP";

constexpr OptionSpec kAuthHandoverOptions[] = {
    {"grant-file", 0, "FILE", "the grant to hand over: a node's <catalog dir>/oauth/NAME.json"},
    {"node", 0, "ID", "hand it to this node only (default: every live node)", true},
    {"wait", 0, "MS", "how long to collect the live nodes' answers (default 500)"},
};

constexpr std::string_view kAuthHandoverDetails = R"HELP(Hands an OAuth grant a node already holds to other nodes, e.g. one that joined the cluster
after `mcpctl auth login`: run it where the grant file is readable (on that node, as mcpd's
user). Each copy is sealed to the receiving node's own key, so it is never readable on the bus.

Examples:
  mcpctl auth handover github --grant-file /var/lib/mcpd/oauth/github.json
  mcpctl auth handover github --grant-file /var/lib/mcpd/oauth/github.json --node node-3
)HELP";

constexpr OptionSpec kWaitOptions[] = {
    {"wait", 0, "MS", "how long to collect the nodes' answers, in milliseconds\n(default 500; more on a slow or far NATS)"},
};

constexpr std::string_view kServerAddDetails = R"HELP(Registers an MCP server with the cluster, or replaces the definition of one that exists
(every mcpd node starts or restarts its sessions). The record is checked here with the
daemon's own rules before anything is sent; a secret never goes on the bus: a token is named
by --token-env or --token-file, and ${VAR} in --env or --header values is expanded by each
node from its own environment. Prints "registered NAME (revision N)".

A local server (stdio):  --command CMD [--arg ARG]... [--env K=V]... [--cwd DIR] [--inherit-env]
A remote server (HTTP):  --url URL [--transport http|sse] [--header K=V]... [--token-env VAR | --token-file PATH]
                         or OAuth: --oauth [--client-id ID (--client-secret-env VAR | --client-secret-file PATH)] [--scope S]...
A built-in server:       --builtin mcpd    (runs inside every mcpd node; its tools report the cluster)

Examples:
  mcpctl server add everything --command npx -- -y @modelcontextprotocol/server-everything
  mcpctl server add files --command npx --arg -y --arg @modelcontextprotocol/server-filesystem --arg /srv/data
  mcpctl server add github --command github-mcp-server --arg stdio --env 'GITHUB_TOKEN=${GITHUB_TOKEN}'
  mcpctl server add remote --url https://mcp.example.com/mcp --token-env EXAMPLE_TOKEN --max-sessions 8
  mcpctl server add crm --url https://mcp.crm.example.com/mcp --oauth --client-id mcpd --client-secret-env MCPD_SECRET_CRM
  mcpctl server add cluster --builtin mcpd
  mcpctl server add --file server.json
  mcpctl --json server show files > files.json && mcpctl server add --file files.json

A server document looks like:
  {"name": "everything", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"],
   "minSessions": 1, "maxSessions": 4, "isolation": "session"}
)HELP";

constexpr std::string_view kServerRmDetails = R"HELP(Unregisters a server: every node stops its sessions and processes. Prints "deleted NAME".

Example:
  mcpctl server rm everything
)HELP";

constexpr std::string_view kServerLsDetails = R"HELP(Lists the registered servers as a table: NAME, TRANSPORT, COMMAND/URL, SESSIONS (min-max),
ISOLATION, ENABLED and REVISION (the catalog revision of the last change). With --json, the
full records as mcpd sent them.

Examples:
  mcpctl server ls
  mcpctl --json server ls | jq -r '.servers[].name'
)HELP";

constexpr std::string_view kServerShowDetails = R"HELP(Shows one server's full record, one field a line (the field names are those of the
MCPServer JSON document that `server add --file` takes), then its health on each live node:
NODE, SESSIONS (ready, and starting if any), ISOLATED (sessions of --session callers),
IN-FLIGHT, QUEUED, CIRCUIT (closed: healthy; open: failing, calls refused for a while),
RESTARTS and LAST ERROR; "not running" for a node that does not run it (disabled, or not yet
caught up). The health comes from the nodes' NATS service-discovery stats ($SRV.STATS.mcpd),
collected for --wait ms; if no node answers, only the record is shown, with a note.

With --json: {"server": {...the record...}, "nodes": {"<node>": {...its stats of the server,
as the node sent them, or null...}}}, which `server add --file` takes back as it is.

Examples:
  mcpctl server show everything
  mcpctl server show everything --json > everything.json
  mcpctl --json server show everything | jq '.nodes | map_values(.circuit)'
)HELP";

constexpr std::string_view kNodesDetails = R"HELP(Lists the live mcpd nodes of the cluster: every node answers the NATS service-discovery
request $SRV.STATS.mcpd by itself, and mcpctl collects the answers for --wait ms. Columns:
NODE (its [node] id), VERSION, UP (since it started: 3m12s, 2h05m, 4d3h), SERVERS (how many it
runs), SESSIONS (open MCP sessions: shared and isolated), IN-FLIGHT (requests being handled),
REQUESTS and ERRORS (since it started, all endpoints). Only nodes under --prefix are listed.
With --json, the nodes' stats replies (io.nats.micro.v1.stats_response) as an array, as sent.
Exits 1 when no node answers (none running, another NATS, or another --prefix).

Examples:
  mcpctl nodes
  mcpctl nodes --json | jq -r '.[].id'
  mcpctl --nats nats://10.0.0.5:4222 nodes --wait 2000
)HELP";

constexpr std::string_view kToolsDetails = R"HELP(Lists the tools a server offers: name and the first line of the description. With --json,
the full definitions (input and output schemas, annotations) as mcpd sent them.

Examples:
  mcpctl tools everything
  mcpctl tools everything --json | jq '.tools[] | select(.name == "echo").inputSchema'
)HELP";

constexpr std::string_view kResourcesDetails = R"HELP(Lists the resources a server offers (MCP resources/list, every page): URI, name, MIME type
and the first line of the description; with --templates its resource templates (URIs with
{variables} that `read` fills in). A server that offers no resources says so (exit 1). With
--json, the whole list as one JSON object, each entry as the server sent it.

Examples:
  mcpctl resources everything
  mcpctl resources everything --templates
  mcpctl resources memory --json | jq -r '.resources[].uri'
)HELP";

constexpr std::string_view kReadDetails = R"HELP(Reads one resource (MCP resources/read) and prints its text; binary contents (blob) are
summarised on one line (--json shows the base64). A URI the server does not have is refused
with the server's message (exit 1).

Examples:
  mcpctl read everything demo://resource/static/document/architecture.md
  mcpctl read everything demo://resource/dynamic/text/42
  mcpctl read memory memory://knowledge-graph --json | jq -r '.contents[0].text'
)HELP";

constexpr std::string_view kPromptsDetails = R"HELP(Lists the prompts a server offers (MCP prompts/list, every page): name, arguments (optional
ones in [brackets]) and the first line of the description. With --json, the whole list.

Examples:
  mcpctl prompts everything
  mcpctl prompts everything --json | jq '.prompts[] | select(.name == "args-prompt")'
)HELP";

constexpr std::string_view kPromptDetails = R"HELP(Gets one prompt filled in with its arguments (MCP prompts/get) and prints its messages, each
under a "--- ROLE" line (text as it is, other content summarised); the prompt's description
goes to stderr. With --json, the server's whole result.

Examples:
  mcpctl prompt everything simple-prompt
  mcpctl prompt everything args-prompt --arg city=Lyon --arg state=Rhone
)HELP";

constexpr std::string_view kCompleteDetails = R"HELP(Asks the server to complete one argument of a prompt, or one variable of a resource template
(MCP completion/complete), and prints the suggestions, one a line; a note on stderr says when
the server has more. With --json, the server's whole result.

Examples:
  mcpctl complete everything --prompt completable-prompt --arg department=E
  mcpctl complete everything --prompt completable-prompt --arg name=A --context department=Engineering
  mcpctl complete everything --template 'demo://resource/dynamic/text/{resourceId}' --arg resourceId=1
)HELP";

constexpr std::string_view kCallDetails = R"HELP(Calls one tool and prints its result: text as it is, a JSON result (structuredContent)
pretty-printed. A tool that reports failure prints its message on stderr and exits 1. When
a --session's MCP session had to be replaced (its process died), a note on stderr says its
state is gone. After `call`, --timeout is the call's deadline; before it (mcpctl --timeout MS
call ...), how long mcpctl waits for the reply.

Examples:
  mcpctl call everything echo --args '{"message": "hello"}'
  mcpctl call everything get-sum --args '{"a": 2, "b": 3}'
  mcpctl call memory read_graph --session agent-42
  mcpctl call everything get-tiny-image --format mcp
  echo '{"message": "from stdin"}' | mcpctl call everything echo --args -
  mcpctl call slow work --timeout 120000
  mcpctl call everything trigger-long-running-operation --args '{"duration": 5, "steps": 5}'

While the call runs, the progress the server reports (MCP progress notifications, relayed by
mcpd to a progress_subject) is shown on stderr: a bar rewritten in place on a terminal, or a
line per notification ("progress 3/5: ...") with --progress when stderr is not a terminal.

With --task the call runs as a task (NATS contract 1.1): mcpd answers at once with the task's
id and runs the call in the background. mcpctl then shows where it is on stderr, one line
rewritten in place on a terminal (a line per change otherwise): its status (working,
input_required, then completed, failed or cancelled), the server's status message, and
"progress/total" when the server reports progress. When the server asks something
(input_required), its question is printed with the `mcpctl tasks input` command that answers
it, to run from another shell. When the task ends, its result is printed as above, with the
same exit status (--json: the final reply as mcpd sent it). Ctrl-C stops following but leaves
the task running: mcpctl prints "task ID still running; see it with: mcpctl tasks get ID" and
exits 130; `mcpctl tasks result ID` prints its result later. The task is kept --ttl ms.

  mcpctl call everything simulate-research-query --args '{"topic": "tides"}' --task
  mcpctl call everything trigger-long-running-operation --args '{"duration": 60, "steps": 6}' --task --owner ops
)HELP";

constexpr std::string_view kTasksLsDetails = R"HELP(Lists the tasks of one owner, newest first, as a table: TASK (its id), STATUS, SERVER, TOOL,
UPDATED (when its status last changed) and MESSAGE (the server's status message, or why it
failed). A task belongs to the --owner given to `call --task`, else to its --session ID; tasks
created with neither are never listed (reach them by id). Every page is read (mcpd sends 500
at most at a time). With --json, the tasks as one JSON array, as mcpd sent them.

Examples:
  mcpctl tasks ls --owner ops
  mcpctl tasks ls --owner ops --status working
  mcpctl tasks ls --session agent-42 --json | jq -r '.[].task_id'
)HELP";

constexpr std::string_view kTasksGetDetails = R"HELP(Shows one task, one field a line: its id, status, status message, server and tool, when it
was created and last updated, how long it is kept (ttl) and how often to poll it. While the
server waits for an answer (input_required), also its question and the `mcpctl tasks input`
command that answers it. A task that does not exist, has expired, or belongs to another owner
is "not_found" (exit 1): give the --owner or --session it was created with.

Examples:
  mcpctl tasks get 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --owner ops
  mcpctl --json tasks get 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f | jq -r .task.status
)HELP";

constexpr std::string_view kTasksResultDetails = R"HELP(Prints the result of a task that has ended, exactly as `call` prints a result, with the same
exit status: 0 for a result; 1 with "mcpctl: <code>: <message>" when the call failed
(tool_error, timeout, cancelled, ...). A task still running after --wait is reported with its
status and exit 1. mcpctl waits 10 s longer than --wait for mcpd's reply. With --json, the
reply as mcpd sent it: {"result": ...}, {"error", "code"}, or {"task": {...}} while it runs.

Examples:
  mcpctl tasks result 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --owner ops
  mcpctl tasks result 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --owner ops --wait 60000
)HELP";

constexpr std::string_view kTasksCancelDetails = R"HELP(Cancels a task: mcpd stops the call (and tells the MCP server) and the task becomes
cancelled; its result is then the error "cancelled". A task that had already ended stays as it
was, and is shown so ("task ID had already ended: completed"); both exit 0.

Example:
  mcpctl tasks cancel 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --owner ops
)HELP";

constexpr std::string_view kTasksInputDetails = R"HELP(Answers the request the MCP server made of a task in status input_required (`tasks get`
and `call --task` show it): --response is passed to the server as it is. For an elicitation
(elicitation/create): {"action": "accept", "content": {...the fields it asks for...}},
{"action": "decline"} or {"action": "cancel"}. The task goes back to working; prints its
status. A task that is not waiting for input is refused (invalid_request).

Examples:
  mcpctl tasks input 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --response '{"action": "accept", "content": {"interpretation": "technical"}}'
  mcpctl tasks input 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --response '{"action": "decline"}'
  mcpctl tasks input 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --response @answer.json
)HELP";

constexpr std::string_view kTasksWatchDetails = R"HELP(Follows a task until it ends: prints its status now, then a line for each change ("HH:MM:SS
working 3/30: step 3"), with the server's question and how to answer it while it is
input_required. Exits 0 when the task completed, 1 when it failed or was cancelled; Ctrl-C
stops watching (exit 130) and leaves the task running. With --json, each status event on a
line of its own, as mcpd published it ({"task": {...}, "progress"?: {...}}).

Examples:
  mcpctl tasks watch 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --owner ops
  mcpctl tasks watch 3f6c0d0b8c3a4e0e9d1f2a7b5c6d8e9f --json | jq -r .task.status
)HELP";

constexpr std::string_view kProbeDetails = R"HELP(Connects straight to a remote MCP server, with no daemon and no NATS, using mcpd's own
client (the same Streamable HTTP or legacy HTTP+SSE transport and MCP session the daemon
runs), and prints what it offers: server name and version, the MCP protocol version agreed,
its capabilities, and its tools (name, arguments, optional ones in [brackets], and the first
line of the description). With --call it also calls one tool and prints the whole result
(images, audio and resources summarised). This is the command to run before `server add
--url ...`: it takes the same --transport, --header, --token-env and --token-file flags,
read here from this shell's environment and files instead of each node's.

With --json: one JSON document {"url", "transport", "server": {"protocolVersion",
"serverInfo", "capabilities", "instructions"?}, "tools": [...as the server sent them],
"call"?: {"tool", "arguments", "result"}, "ok"}; on failure {"url", "transport", "ok": false,
"error"} and the message on stderr.

Exits 1 with "mcpctl: <code>: <what failed>: <why>" when the server cannot be reached
(connection refused, DNS, TLS verification), answers with an HTTP error (401, 404, ...),
fails or refuses initialize (for instance an MCP version mcpd does not speak), does not
answer within --timeout, lists no such tool, or the tool reports failure (isError). -v logs
the transport's and the session's events to stderr.

Examples:
  mcpctl probe --url http://127.0.0.1:3001/mcp
  mcpctl probe --url https://mcp.example.com/mcp --token-env EXAMPLE_TOKEN
  mcpctl probe --url http://127.0.0.1:3001/sse --transport sse
  mcpctl probe --url https://10.0.0.7:8443/mcp --ca-file /etc/mcpd/internal-ca.pem
  mcpctl probe --url http://127.0.0.1:3001/mcp --call echo --args '{"message": "hi"}'
  mcpctl probe --url http://127.0.0.1:3001/mcp --json | jq -r '.tools[].name'
  mcpctl probe --url http://127.0.0.1:3001/mcp && mcpctl server add remote --url http://127.0.0.1:3001/mcp
)HELP";

constexpr Command kCommands[] = {
    {"server add", "NAME (--command CMD ... | --url URL ... | --builtin mcpd) [options]\n[NAME] --file FILE", "NAME --command CMD | --url URL",
     "register an MCP server, or replace its definition", kServerAddOptions, kServerAddDetails, 0, 1, true,
     run_server_add},
    {"server rm", "NAME", "NAME", "unregister a server and stop its sessions", {}, kServerRmDetails, 1, 1, false,
     run_server_rm},
    {"server ls", "", "", "list the registered servers", {}, kServerLsDetails, 0, 0, false, run_server_ls},
    {"server show", "NAME [--wait MS]", "NAME", "show a server's record and its health on each node", kWaitOptions,
     kServerShowDetails, 1, 1, false, run_server_show},
    {"nodes", "[--wait MS]", "", "list the live mcpd nodes and their load", kWaitOptions, kNodesDetails, 0, 0, false,
     run_nodes},
    {"tools", "NAME", "NAME", "list a server's tools", {}, kToolsDetails, 1, 1, false, run_tools},
    {"call", "NAME TOOL [--args JSON] [--session ID] [--timeout MS] [--format compat|mcp] [--progress]\n"
             "NAME TOOL [--args JSON] [--session ID] [--format compat|mcp] --task [--ttl MS] [--owner O]",
     "NAME TOOL [--args JSON]", "call a tool and print its result (--task: as a task)", kCallOptions, kCallDetails, 2,
     2, false, run_call},
    {"resources", "NAME [--templates]", "NAME", "list a server's resources (or resource templates)", kResourcesOptions,
     kResourcesDetails, 1, 1, false, run_resources},
    {"read", "NAME URI [--timeout MS]", "NAME URI", "read one resource and print its contents", kReadOptions, kReadDetails,
     2, 2, false, run_read},
    {"prompts", "NAME", "NAME", "list a server's prompts", {}, kPromptsDetails, 1, 1, false, run_prompts},
    {"prompt", "NAME PROMPT [--arg K=V]...", "NAME PROMPT", "get one prompt with its arguments filled in", kPromptOptions,
     kPromptDetails, 2, 2, false, run_prompt},
    {"complete", "NAME (--prompt P | --template URI) --arg K=V [--context K=V]...", "NAME --prompt P --arg K=V",
     "suggest values for an argument of a prompt or a template", kCompleteOptions, kCompleteDetails, 1, 1, false,
     run_complete},
    {"tasks ls", "[--status S] [--limit N] [--owner O | --session ID]", "", "list the tasks of an owner, newest first",
     kTasksLsOptions, kTasksLsDetails, 0, 0, false, run_tasks_ls},
    {"tasks get", "ID [--owner O | --session ID]", "ID", "show a task: status, message, times, input request",
     kTaskOwnerOptions, kTasksGetDetails, 1, 1, false, run_tasks_get},
    {"tasks result", "ID [--wait MS] [--owner O | --session ID]", "ID", "print a task's result, as call prints it",
     kTasksResultOptions, kTasksResultDetails, 1, 1, false, run_tasks_result},
    {"tasks cancel", "ID [--owner O | --session ID]", "ID", "cancel a task", kTaskOwnerOptions, kTasksCancelDetails, 1, 1,
     false, run_tasks_cancel},
    {"tasks input", "ID --response JSON [--owner O | --session ID]", "ID --response JSON",
     "answer a task's request for input (input_required)", kTasksInputOptions, kTasksInputDetails, 1, 1, false,
     run_tasks_input},
    {"tasks watch", "ID [--owner O | --session ID]", "ID", "follow a task's status until it ends", kTaskOwnerOptions,
     kTasksWatchDetails, 1, 1, false, run_tasks_watch},
    {"auth login", "NAME [--url URL] [--client-id ID [--client-secret-env VAR]] [--scope S]... [--port N]\n"
                   "NAME [options] --browser-command CMD",
     "NAME", "authorize mcpd toward a server's OAuth (authorization code, PKCE)", kAuthLoginOptions,
     kAuthLoginDetails, 1, 1, false, run_auth_login},
    {"auth handover", "NAME --grant-file FILE [--node ID]...", "NAME --grant-file FILE",
     "hand a grant a node holds to other nodes (sealed to each node's key)", kAuthHandoverOptions,
     kAuthHandoverDetails, 1, 1, false, run_auth_handover},
    {"probe", "--url URL [--transport http|sse] [--header K=V]... [--token-env VAR | --token-file PATH]"
              " [--ca-file PATH] [--insecure] [--timeout MS] [--json]\n"
              "--url URL [options] --call TOOL [--args JSON]",
     "--url URL", "check a remote MCP server directly (no daemon): info, tools", kProbeOptions, kProbeDetails, 0, 0,
     false, run_probe},
};

constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kAliases = {{
    {"server list", "server ls"},
    {"server get", "server show"},
    {"server put", "server add"},
    {"server remove", "server rm"},
    {"server delete", "server rm"},
    {"list-tools", "tools"},
    {"execute", "call"},
    {"nodes ls", "nodes"},
    {"node ls", "nodes"},
    {"check", "probe"},
    {"tasks list", "tasks ls"},
    {"tasks show", "tasks get"},
    {"tasks answer", "tasks input"},
    {"completion", "complete"},
}};

}  // namespace

std::span<const Command> command_table() { return kCommands; }
std::span<const std::pair<std::string_view, std::string_view>> command_aliases() { return kAliases; }
std::span<const OptionSpec> global_options() { return kGlobalOptions; }

}  // namespace mcpd::mcpctl
