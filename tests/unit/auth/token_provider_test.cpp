// TokenProvider against a small loopback HTTP server standing in for an MCP server's
// metadata and its authorization server: discovery, registration, client_credentials, the
// cache shared by callers, refresh before expiry with the refresh token, the grant file.
#include "auth/token_provider.hpp"

#include "auth/token_cache.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

using namespace mcpd;
using namespace mcpd::auth;
using namespace std::chrono_literals;

namespace {

struct Seen {
  std::string method, path, body, authorization;
};

// Answers GET/POST by path with canned JSON; records every request.
class FakeAuthServer {
 public:
  FakeAuthServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    base_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeAuthServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  const std::string& base() const { return base_; }
  void route(const std::string& path, int status, std::string body) {
    std::lock_guard lk(mu_);
    routes_[path] = {status, std::move(body)};
  }
  std::vector<Seen> seen() {
    std::lock_guard lk(mu_);
    return seen_;
  }
  int count(const std::string& path) {
    int n = 0;
    for (const auto& s : seen())
      if (s.path == path) ++n;
    return n;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      std::size_t need = std::string::npos;
      while (true) {
        auto end = req.find("\r\n\r\n");
        if (end != std::string::npos && need == std::string::npos) {
          auto cl = req.find("Content-Length: ");
          need = end + 4 + (cl != std::string::npos && cl < end ? std::stoul(req.substr(cl + 16)) : 0);
        }
        if (need != std::string::npos && req.size() >= need) break;
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      Seen s;
      auto sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
      s.method = req.substr(0, sp1);
      s.path = req.substr(sp1 + 1, sp2 - sp1 - 1);
      auto end = req.find("\r\n\r\n");
      s.body = end == std::string::npos ? "" : req.substr(end + 4);
      if (auto a = req.find("Authorization: "); a != std::string::npos && a < end)
        s.authorization = req.substr(a + 15, req.find("\r\n", a) - a - 15);
      std::pair<int, std::string> answer{404, "{}"};
      {
        std::lock_guard lk(mu_);
        seen_.push_back(s);
        if (auto it = routes_.find(s.path); it != routes_.end()) answer = it->second;
      }
      std::string resp = "HTTP/1.1 " + std::to_string(answer.first) + " X\r\nContent-Type: application/json\r\n"
                         "Connection: close\r\nContent-Length: " + std::to_string(answer.second.size()) + "\r\n\r\n" +
                         answer.second;
      [[maybe_unused]] auto w = ::write(c, resp.data(), resp.size());
      ::close(c);
    }
  }

  int fd_ = -1;
  std::string base_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, std::pair<int, std::string>> routes_;
  std::vector<Seen> seen_;
  std::thread thread_;
};

Result<std::string> acquire(TokenProvider& p, const std::string& challenge = "", const std::string& refused = "") {
  std::promise<Result<std::string>> done;
  auto f = done.get_future();
  p.acquire(challenge, refused, [&](Result<std::string> r) { done.set_value(std::move(r)); });
  REQUIRE(f.wait_for(20s) == std::future_status::ready);
  return f.get();
}

template <typename F>
bool eventually(F f) {
  for (int i = 0; i < 200; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(25ms);
  }
  return false;
}

}  // namespace

TEST_CASE("a provider discovers registers and gets a client_credentials token once for all callers") {
  FakeAuthServer s;
  s.route("/.well-known/oauth-protected-resource/mcp", 200,
          R"({"resource":")" + s.base() + R"(/mcp","authorization_servers":[")" + s.base() + R"("],"scopes_supported":["tools"]})");
  s.route("/.well-known/oauth-authorization-server", 200,
          R"({"issuer":")" + s.base() + R"(","token_endpoint":")" + s.base() + R"(/token","registration_endpoint":")" +
              s.base() + R"(/register","grant_types_supported":["client_credentials","refresh_token"]})");
  s.route("/register", 201, R"({"client_id":"reg-1","client_secret":"sec-1","token_endpoint_auth_method":"client_secret_post"})");
  s.route("/token", 200, R"({"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"})");

  const auto dir = std::filesystem::temp_directory_path() / ("mcpd-provider-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  OAuthSettings o;
  o.name = "t";
  o.server_url = s.base() + "/mcp";
  o.store_path = (dir / "oauth" / "t.json").string();
  auto p = TokenProvider::create(o);
  CHECK_FALSE(p->current());

  auto t = acquire(*p, R"(Bearer resource_metadata=")" + s.base() + R"(/.well-known/oauth-protected-resource/mcp")");
  REQUIRE(t.ok());
  CHECK(t.value() == "at-1");
  CHECK(p->current() == "at-1");
  CHECK(s.count("/register") == 1);
  REQUIRE(s.count("/token") == 1);
  Seen token_req;
  for (const auto& r : s.seen())
    if (r.path == "/token") token_req = r;
  CHECK(token_req.body.find("grant_type=client_credentials") != std::string::npos);
  CHECK(token_req.body.find("scope=tools") != std::string::npos);
  CHECK(token_req.body.find("resource=" ) != std::string::npos);
  CHECK(token_req.body.find("client_id=reg-1&client_secret=sec-1") != std::string::npos);  // as registered

  // Another caller gets the cached token without a new request.
  CHECK(acquire(*p).value() == "at-1");
  CHECK(s.count("/token") == 1);

  // The grant is on disk, 0600, and a new provider (a restarted node) starts with it.
  struct stat st {};
  REQUIRE(::stat(o.store_path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = TokenProvider::create(o);
  CHECK(again->current() == "at-1");

  // The server refuses the token: the refresh token is redeemed, with the registered client.
  s.route("/token", 200, R"({"access_token":"at-2","token_type":"Bearer","expires_in":3600})");
  auto t2 = acquire(*p, "Bearer error=\"invalid_token\"", "at-1");
  REQUIRE(t2.ok());
  CHECK(t2.value() == "at-2");
  CHECK(s.seen().back().body.find("grant_type=refresh_token&refresh_token=rt-1") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a token close to expiry is refreshed in the background while it is still used") {
  FakeAuthServer s;
  s.route("/.well-known/oauth-authorization-server", 200,
          R"({"issuer":")" + s.base() + R"(","token_endpoint":")" + s.base() + R"(/token"})");
  s.route("/token", 200, R"({"access_token":"short","token_type":"Bearer","expires_in":30,"refresh_token":"rt"})");
  OAuthSettings o;
  o.name = "t";
  o.server_url = s.base() + "/mcp";
  o.client_id = "pre";
  o.client_secret = "secret";
  auto p = TokenProvider::create(o);
  REQUIRE(acquire(*p, "Bearer").value() == "short");
  // The first token came by client_credentials with client_secret_basic (no metadata about methods).
  CHECK(s.seen().back().authorization == "Basic cHJlOnNlY3JldA==");
  s.route("/token", 200, R"({"access_token":"long","token_type":"Bearer","expires_in":3600})");
  // 30 s left is inside the 60 s margin: the token is still handed out and a refresh starts.
  CHECK(p->current() == "short");
  CHECK(eventually([&] { return p->current() == std::optional<std::string>("long"); }));
  CHECK(s.seen().back().body.find("grant_type=refresh_token&refresh_token=rt") != std::string::npos);
}

TEST_CASE("metadata for another resource is refused before any token request") {
  FakeAuthServer s;
  s.route("/.well-known/oauth-protected-resource/mcp", 200,
          R"({"resource":"https://evil.example.com/mcp","authorization_servers":[")" + s.base() + R"("]})");
  s.route("/.well-known/oauth-authorization-server", 200,
          R"({"issuer":")" + s.base() + R"(","token_endpoint":")" + s.base() + R"(/token"})");
  OAuthSettings o;
  o.name = "t";
  o.server_url = s.base() + "/mcp";
  auto p = TokenProvider::create(o);
  auto t = acquire(*p, "Bearer");
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("is for https://evil.example.com/mcp") != std::string::npos);
  CHECK(s.count("/token") == 0);
}

TEST_CASE("an authorization server without client_credentials points to mcpctl auth login") {
  FakeAuthServer s;
  s.route("/.well-known/oauth-authorization-server", 200,
          R"({"issuer":")" + s.base() + R"(","token_endpoint":")" + s.base() +
              R"(/token","grant_types_supported":["authorization_code"]})");
  OAuthSettings o;
  o.name = "crm";
  o.server_url = s.base() + "/mcp";
  auto p = TokenProvider::create(o);
  auto t = acquire(*p, "Bearer");
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("mcpctl auth login crm") != std::string::npos);
}

TEST_CASE("insufficient_scope asks for a new token with the challenge's scope even when one is cached") {
  FakeAuthServer s;
  s.route("/.well-known/oauth-authorization-server", 200,
          R"({"issuer":")" + s.base() + R"(","token_endpoint":")" + s.base() + R"(/token"})");
  s.route("/token", 200, R"({"access_token":"narrow","token_type":"Bearer","expires_in":3600})");
  OAuthSettings o;
  o.name = "t";
  o.server_url = s.base() + "/mcp";
  o.client_id = "pre";
  o.client_secret = "secret";
  o.scopes = {"base"};
  auto p = TokenProvider::create(o);
  REQUIRE(acquire(*p, "Bearer").value() == "narrow");
  CHECK(s.seen().back().body.find("scope=base&") != std::string::npos);
  s.route("/token", 200, R"({"access_token":"wide","token_type":"Bearer","expires_in":3600})");
  auto t = acquire(*p, R"(Bearer error="insufficient_scope", scope="files:write")", "narrow");
  REQUIRE(t.ok());
  CHECK(t.value() == "wide");
  CHECK(s.seen().back().body.find("scope=base%20files%3Awrite&") != std::string::npos);
}

TEST_CASE("discovery goes nowhere the node's policy refuses - the client secret stays home") {
  FakeAuthServer mcp;    // the MCP server and its protected-resource metadata
  FakeAuthServer other;  // an authorization server on a host the policy does not list
  mcp.route("/.well-known/oauth-protected-resource/mcp", 200,
            R"({"resource":")" + mcp.base() + R"(/mcp","authorization_servers":[")" + other.base() + R"("]})");
  other.route("/.well-known/oauth-authorization-server", 200,
              R"({"issuer":")" + other.base() + R"(","token_endpoint":")" + other.base() + R"(/token"})");
  OAuthSettings o;
  o.name = "t";
  o.server_url = mcp.base() + "/mcp";
  o.client_id = "pre";
  o.client_secret = "secret";
  o.url_refused = [allowed = mcp.base()](const std::string& url) {
    return url.starts_with(allowed + "/") ? std::string() : "the host of " + url + " is not in [security] allowed_urls";
  };
  auto p = TokenProvider::create(o);
  auto t = acquire(*p, R"(Bearer resource_metadata=")" + mcp.base() + R"(/.well-known/oauth-protected-resource/mcp")");
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("allowed_urls") != std::string::npos);
  CHECK(other.seen().empty());  // not even its metadata was asked for
  CHECK(mcp.count("/.well-known/oauth-protected-resource/mcp") == 1);
}
