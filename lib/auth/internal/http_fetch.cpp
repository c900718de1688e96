#include "auth/internal/http_fetch.hpp"

#include <curl/curl.h>

#include <cctype>
#include <memory>
#include <string_view>

namespace mcpd::auth::internal {
namespace {

constexpr std::size_t kMaxBody = 1u << 20;

std::size_t write_cb(char* data, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t len = size * n;
  if (body->size() + len > kMaxBody) return 0;  // aborts: no metadata or token is this large
  body->append(data, len);
  return len;
}

std::size_t header_cb(char* data, std::size_t size, std::size_t n, void* user) {
  const std::size_t len = size * n;
  std::string_view line(data, len);
  constexpr std::string_view kName = "www-authenticate:";
  if (line.size() > kName.size()) {
    std::string head(line.substr(0, kName.size()));
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (head == kName) {
      line.remove_prefix(kName.size());
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
      *static_cast<std::string*>(user) = std::string(line);
    }
  }
  return len;
}

}  // namespace

FetchResponse fetch(const FetchRequest& r, const FetchOptions& o) {
  FetchResponse out;
  if (o.url_refused) {
    if (std::string why = o.url_refused(r.url); !why.empty()) {
      out.error = std::string(kNotFetched) + why;
      return out;
    }
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> e(curl_easy_init(), &curl_easy_cleanup);
  if (!e) {
    out.error = "curl_easy_init failed";
    return out;
  }
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_slist* headers = nullptr;
  for (const auto& h : r.headers) headers = curl_slist_append(headers, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hold(headers, &curl_slist_free_all);
  CURL* c = e.get();
  curl_easy_setopt(c, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect is not followed with credentials
  curl_easy_setopt(c, CURLOPT_USERAGENT, "mcpd");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out.www_authenticate);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o.tls_verify ? 2L : 0L);
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (r.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  }
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    out.error = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    return out;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
  return out;
}

std::string form_encode(const std::string& s) {
  char* p = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  if (!p) return {};
  std::string out(p);
  curl_free(p);
  return out;
}

}  // namespace mcpd::auth::internal
