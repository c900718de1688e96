#include "auth/login.hpp"

#include "auth/crypto.hpp"
#include "auth/discovery.hpp"
#include "auth/internal/flow.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace mcpd::auth {
namespace {

using internal::form_encode;

Error failure(std::string message) { return make_error(Errc::unavailable, std::move(message)); }

// A listening loopback socket, closed on scope exit.
class Listener {
 public:
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status open(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return failure("cannot open a socket for the redirect");
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0)
      return failure("cannot listen on 127.0.0.1:" + std::to_string(port) + " for the redirect");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    return {};
  }
  int port() const { return port_; }

  // The query of the first GET /callback that arrives within `wait`; other requests (a
  // browser's /favicon.ico) get 404.
  Result<std::string> await_callback(std::chrono::seconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return failure("no redirect arrived within " + std::to_string(wait.count()) + " s");
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 5000) <= 0) break;
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      const bool callback = req.starts_with("GET /callback");
      const std::string body = callback ? "mcpd: authorization received; you may close this window.\n" : "not found\n";
      const std::string resp = std::string(callback ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found") +
                               "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
      [[maybe_unused]] auto w = ::write(c, resp.data(), resp.size());
      ::close(c);
      if (!callback) continue;
      auto q = req.find('?');
      auto sp = req.find(' ', 4);
      if (q == std::string::npos || q > sp) return std::string();
      return req.substr(q + 1, sp - q - 1);
    }
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() + 0 && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view item = q.substr(0, amp);
    auto eq = item.find('=');
    out[percent_decode(item.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decode(item.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

Result<Grant> login(const LoginOptions& o) {
  internal::FetchOptions fo;
  fo.ca_file = o.ca_file;
  fo.tls_verify = o.tls_verify;

  auto answer = internal::probe(o.server_url, fo);
  if (answer.status == 0) return failure("cannot reach " + o.server_url + ": " + answer.error);
  Challenge ch = parse_www_authenticate(answer.www_authenticate).value_or(Challenge{});
  auto found = internal::discover(o.name, o.server_url, ch, fo);
  if (!found.ok()) return found.error();
  const internal::Discovered& d = found.value();
  const AuthServer& as = d.as;
  if (as.authorization_endpoint.empty())
    return failure("OAuth: the authorization server " + as.issuer + " names no authorization_endpoint");
  const auto& grants = as.grant_types_supported;
  if (!grants.empty() && std::find(grants.begin(), grants.end(), "authorization_code") == grants.end())
    return failure("OAuth: the authorization server " + as.issuer + " does not offer the authorization_code grant " +
                   "(the node authenticates with client_credentials by itself; no login is needed)");
  const auto& pkce_methods = as.code_challenge_methods_supported;
  if (d.metadata && std::find(pkce_methods.begin(), pkce_methods.end(), "S256") == pkce_methods.end())
    return failure("OAuth: the authorization server " + as.issuer +
                   " does not advertise PKCE (S256) in code_challenge_methods_supported; not proceeding");

  Listener listener;
  if (auto st = listener.open(o.port); !st.ok()) return st.error();
  const std::string redirect = "http://127.0.0.1:" + std::to_string(listener.port()) + "/callback";
  const std::string scope = select_scope(o.scopes, ch.scope, d.scopes_supported);

  internal::Client client{o.client_id, o.client_secret, ""};
  bool registered = false;
  if (client.id.empty() && as.client_id_metadata_document_supported && !o.client_metadata_url.empty()) {
    client.id = o.client_metadata_url;  // a URL-based client id; the server fetches the document
  } else if (client.id.empty()) {
    internal::Registration reg;
    reg.grant_types = {"authorization_code", "refresh_token"};
    reg.redirect_uris = {redirect};
    reg.scope = scope;
    auto r = internal::register_client(o.name, as, reg, fo);
    if (!r.ok()) return r.error();
    client = std::move(r).value();
    registered = true;
  }
  if (client.method.empty()) client.method = internal::pick_method(client, as.token_endpoint_auth_methods_supported);

  const Pkce pkce = make_pkce();
  const std::string state = random_string(16);
  std::string url = as.authorization_endpoint + (as.authorization_endpoint.find('?') == std::string::npos ? "?" : "&");
  url += "response_type=code&client_id=" + form_encode(client.id) + "&redirect_uri=" + form_encode(redirect) +
         "&code_challenge=" + pkce.challenge + "&code_challenge_method=S256&state=" + state +
         "&resource=" + form_encode(d.resource);
  if (!scope.empty()) url += "&scope=" + form_encode(scope);
  if (o.open) o.open(url);

  auto query = listener.await_callback(o.wait);
  if (!query.ok()) return query.error();
  auto params = parse_query(query.value());
  if (auto e = params.find("error"); e != params.end())
    return failure("OAuth: the authorization server refused: " + e->second +
                   (params.count("error_description") ? " (" + params["error_description"] + ")" : ""));
  if (params["state"] != state) return failure("OAuth: the redirect's state does not match the request's; ignoring it");
  if (params["code"].empty()) return failure("OAuth: the redirect carries no authorization code");

  std::string body = "grant_type=authorization_code&code=" + form_encode(params["code"]) +
                     "&redirect_uri=" + form_encode(redirect) + "&code_verifier=" + pkce.verifier +
                     "&resource=" + form_encode(d.resource);
  auto t = internal::token_request(as.token_endpoint, as.issuer, body, client, fo, "authorization_code");
  if (!t.ok()) return t.error();

  Grant g;
  g.token_endpoint = as.token_endpoint;
  g.resource = d.resource;
  g.scope = scope;
  g.client_id = client.id;
  if (registered) {  // a configured secret stays where it is referenced
    g.client_secret = client.secret;
    g.client_auth = client.method;
  }
  TokenCache cache;
  cache.set(g);
  cache.put(t.value(), Clock::now());
  if (!o.store_path.empty())
    if (auto st = save_grant(o.store_path, cache.grant()); !st.ok()) return st.error();
  return cache.grant();
}

}  // namespace mcpd::auth
