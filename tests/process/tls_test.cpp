// Native TLS (TLS_CERT_FILE / TLS_KEY_FILE), SIGHUP certificate reload and
// the /metrics allowlist, on signal-node processes as operators run them.
// Certificates are made at test time with the openssl CLI; `openssl s_client`
// checks the port from outside as any client would.
#include "support/child_process.hpp"
#include "support/test_node.hpp"
#include "support/tls_ws_client.hpp"
#include "support/ws_client.hpp"

#include "node/jwt.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace testing;
using json = nlohmann::json;
namespace fs = std::filesystem;
namespace net = boost::asio;

namespace {

std::map<std::string, std::string> node_env(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env{
    {"WS_PORT", "0"}, {"BIND_ADDRESS", "127.0.0.1"}, {"ENV_FILE", "/nonexistent"}, {"LOG_LEVEL", "info"},
    {"DRAIN_DELAY_MS", "0"}, {"ADMIN_PORT", "off"}, {"IO_THREADS", "2"}};
  for (auto& [k, v] : extra)
    env[k] = v;
  return env;
}

// A fresh directory, removed with everything in it.
struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/signal-tls-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Runs a shell command line (stdin from /dev/null); its exit status and output.
struct shell_result {
  int status = -1;
  std::string output;
};
shell_result shell(const std::string& line, std::chrono::milliseconds timeout = 30s) {
  child_process p{{"/bin/sh", "-c", "exec </dev/null; " + line}};
  auto status = p.wait_exit(timeout);
  return {status ? *status : -1, p.output()};
}

// One HTTPS GET through `openssl s_client`, the certificate verified against
// `ca`: the status code (0 if the exchange failed) and the body.
struct https_answer {
  int status = 0;
  std::string body;
  std::string raw;
};
https_answer https_get(std::uint16_t port, const std::string& ca, const std::string& path,
                       const std::string& header = {}) {
  auto r = shell("printf 'GET " + path + " HTTP/1.1\\r\\nHost: localhost\\r\\n" +
                 (header.empty() ? "" : header + "\\r\\n") + "Connection: close\\r\\n\\r\\n' | " +
                 "openssl s_client -quiet -connect 127.0.0.1:" + std::to_string(port) +
                 " -servername localhost -verify_return_error -CAfile " + ca + " 2>/dev/null");
  https_answer a;
  a.raw = r.output;
  if (r.output.rfind("HTTP/1.1 ", 0) == 0)
    a.status = std::atoi(r.output.c_str() + 9);
  auto split = r.output.find("\r\n\r\n");
  if (split != std::string::npos)
    a.body = r.output.substr(split + 4);
  return a;
}

// A self-signed leaf for localhost and 127.0.0.1 (its own CA for clients),
// with `serial` and organisation `org`, so tests can tell two apart.
void make_cert(const std::string& cert, const std::string& key, int serial, const std::string& org) {
  auto r = shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
                 "'/CN=localhost/O=" + org + "' -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -set_serial " +
                 std::to_string(serial) + " -keyout " + key + " -out " + cert + " 2>&1");
  REQUIRE_MESSAGE(r.status == 0, r.output);
}

// A TLS node on a free port with the certificate in `dir` (cert.pem, key.pem).
struct tls_node {
  explicit tls_node(const temp_dir& dir, std::map<std::string, std::string> extra = {}) {
    extra["TLS_CERT_FILE"] = dir.file("cert.pem");
    extra["TLS_KEY_FILE"] = dir.file("key.pem");
    proc = std::make_unique<child_process>(std::vector<std::string>{SIGNAL_NODE_BIN}, node_env(extra));
    auto p = wait_for_port(*proc, 20s);
    REQUIRE_MESSAGE(p, proc->output());
    port = *p;
  }
  std::unique_ptr<child_process> proc;
  std::uint16_t port = 0;
};

std::string create_room(tls_ws_client& host) {
  host.send(R"({"type":"create-room"})");
  auto reply = json::parse(host.read_text());
  REQUIRE(reply["type"] == "room-created");
  return reply["roomId"].get<std::string>();
}

void join(tls_ws_client& guest, tls_ws_client& host, const std::string& room) {
  guest.send(json{{"type", "join-room"}, {"roomId", room}}.dump());
  REQUIRE(json::parse(guest.read_text())["type"] == "peer-joined");
  REQUIRE(json::parse(host.read_text())["type"] == "peer-joined");
}

// A signal each way between two members; the bytes arrive unchanged.
void relay_both_ways(tls_ws_client& a, tls_ws_client& b, const std::string& room, const std::string& mark) {
  auto offer = json{{"type", "signal"}, {"roomId", room}, {"sdp", "offer " + mark}}.dump();
  a.send(offer);
  CHECK(b.read_text() == offer);
  auto answer = json{{"type", "signal"}, {"roomId", room}, {"candidate", "answer " + mark}}.dump();
  b.send(answer);
  CHECK(a.read_text() == answer);
}

std::size_t count_lines(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

// True if the node ends the connection (a one-byte read fails) within `timeout`.
template <class Stream>
bool closed_by_node(net::io_context& ioc, Stream& stream, std::chrono::milliseconds timeout) {
  char byte = 0;
  bool done = false;
  boost::system::error_code ec;
  stream.async_read_some(net::buffer(&byte, 1), [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  ioc.restart();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && std::chrono::steady_clock::now() < deadline)
    ioc.run_one_until(deadline);
  return done && ec;
}

} // namespace

TEST_CASE("over native TLS two wss:// clients share a room and relay both ways, and the per-address cap holds") {
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 1001, "first");
  tls_node node{dir, {{"MAX_CONNECTIONS_PER_IP", "2"}}};
  CHECK(node.proc->output().find("event=tls_loaded") != std::string::npos);
  tls_ws_client host, guest;
  host.connect(node.port, dir.file("cert.pem"));
  guest.connect(node.port, dir.file("cert.pem"));
  MESSAGE("negotiated " << host.tls_version());
  CHECK((host.tls_version() == "TLSv1.3" || host.tls_version() == "TLSv1.2"));
  auto room = create_room(host);
  join(guest, host, room);
  relay_both_ways(host, guest, room, "over native TLS");
  // The third WebSocket from 127.0.0.1 is refused (429) over TLS as over TCP.
  tls_ws_client third;
  CHECK_THROWS(third.connect(node.port, dir.file("cert.pem")));
}

TEST_CASE("over native TLS a reader that stops reading is cut off at its send-queue limit and counted as such") {
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 1004, "first");
  tls_node node{dir, {{"MAX_SEND_QUEUE_BYTES", "262144"}, {"RATE_LIMIT_PER_SEC", "1000000"},
                      {"RATE_LIMIT_BURST", "1000000"}, {"LOG_LEVEL", "debug"}}}; // the cut-off's line is at debug
  auto ca = dir.file("cert.pem");
  tls_ws_client host, guest, other_host, other_guest;
  for (auto* c : {&host, &guest, &other_host, &other_guest})
    c->connect(node.port, ca);
  auto room = create_room(host);
  join(guest, host, room);
  auto other_room = create_room(other_host);
  join(other_guest, other_host, other_room);

  guest.receive_buffer_bytes(4096); // and never reads again
  std::string frame = json{{"type", "signal"}, {"roomId", room}, {"sdp", std::string(32 * 1024, 'a')}}.dump();
  // Far more than the socket buffers and the queue hold: the node must cut the guest off.
  for (int i = 0; i < 1000; ++i)
    host.send(frame);
  bool left = false;
  for (int i = 0; i < 2000 && !left; ++i) // frames after the cut are answered with errors
    left = json::parse(host.read_text(10s))["type"] == "peer-left";
  CHECK(left);
  CHECK(node.proc->wait_for_line("event=conn_cut", 10s));
  relay_both_ways(other_host, other_guest, other_room, "beside a slow reader");
  auto metrics = https_get(node.port, ca, "/metrics");
  REQUIRE_MESSAGE(metrics.status == 200, metrics.raw);
  CHECK(metrics.body.find("signal_send_queue_cutoffs_total 1") != std::string::npos);
  CHECK(metrics.body.find("signal_closes_total{reason=\"slow_reader\"} 1") != std::string::npos);
}

TEST_CASE("over native TLS the Origin check and AUTH_MODE=jwt refuse and admit as on plain TCP") {
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 1005, "first");
  const std::string secret = "backend-secret-0123456789";
  // Refusals are logged at debug (counted at any level).
  tls_node node{dir, {{"AUTH_MODE", "jwt"}, {"AUTH_JWT_SECRET", secret}, {"FRONTEND_URL", "https://app.example"}, {"LOG_LEVEL", "debug"}}};
  auto ca = dir.file("cert.pem");
  auto exp = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
               .count() + 600;
  auto token = signaling::jwt::sign(R"({"exp":)" + std::to_string(exp) + "}", secret);
  tls_ws_client with_token, bearer;
  with_token.connect(node.port, ca, "/?token=" + token, {{"Origin", "https://app.example"}});
  bearer.connect(node.port, ca, "/", {{"Authorization", "Bearer " + token}});
  auto room = create_room(with_token);
  join(bearer, with_token, room);
  relay_both_ways(with_token, bearer, room, "with tokens");
  tls_ws_client no_token, forged, wrong_origin;
  CHECK_THROWS(no_token.connect(node.port, ca));
  CHECK_THROWS(forged.connect(node.port, ca, "/?token=" + signaling::jwt::sign(R"({"exp":)" + std::to_string(exp) + "}",
                                                                                   "not-the-backend-secret")));
  CHECK_THROWS(wrong_origin.connect(node.port, ca, "/?token=" + token, {{"Origin", "https://evil.example"}}));
  CHECK(eventually([&] { return count_lines(node.proc->output(), "event=upgrade_refused") == 3; }, 10s));
  auto refusals = node.proc->output();
  CHECK(count_lines(refusals, "status=401") == 2);
  CHECK(count_lines(refusals, "status=403") == 1);
}

TEST_CASE("openssl s_client reaches a TLS node over HTTPS with TLS 1.2 and 1.3, and TLS 1.1 is refused") {
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 1002, "first");
  tls_node node{dir};
  auto port = std::to_string(node.port);
  auto ping = https_get(node.port, dir.file("cert.pem"), "/api/ping");
  REQUIRE_MESSAGE(ping.status == 200, ping.raw);
  CHECK(json::parse(ping.body)["status"] == "ok");

  auto s_client = [&](const std::string& flags) {
    return shell("openssl s_client -connect 127.0.0.1:" + port + " -servername localhost -CAfile " +
                 dir.file("cert.pem") + " -verify_return_error " + flags + " 2>&1");
  };
  auto v12 = s_client("-tls1_2");
  CHECK_MESSAGE(v12.status == 0, v12.output);
  CHECK(v12.output.find("TLSv1.2") != std::string::npos);
  CHECK(v12.output.find("Verify return code: 0 (ok)") != std::string::npos);
  auto v13 = s_client("-tls1_3");
  CHECK_MESSAGE(v13.status == 0, v13.output);
  CHECK(v13.output.find("TLSv1.3") != std::string::npos);
  // SECLEVEL=0 lets this client offer TLS 1.1 at all: the refusal is the node's.
  auto v11 = s_client("-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'");
  CHECK_MESSAGE(v11.status != 0, v11.output);
  CHECK(v11.output.find("no protocols available") == std::string::npos);
  CHECK(v11.output.find("alert protocol version") != std::string::npos);
  auto v10 = s_client("-tls1 -cipher 'DEFAULT:@SECLEVEL=0'");
  CHECK_MESSAGE(v10.status != 0, v10.output);
}

TEST_CASE("plaintext HTTP and WebSocket to the TLS port are closed without an answer and TLS clients go on") {
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 1003, "first");
  tls_node node{dir, {{"LOG_LEVEL", "debug"}}};
  tls_ws_client host, guest;
  host.connect(node.port, dir.file("cert.pem"));
  auto room = create_room(host);

  CHECK_THROWS(http_request(node.port, "GET", "/api/ping"));
  ws_client plain;
  int status = 0;
  try {
    status = plain.try_connect(node.port);
  } catch (const std::exception& e) {
    status = -2; // only a handshake that hung would throw
    MESSAGE(e.what());
  }
  CHECK(status != 101); // the node closed the connection without an HTTP answer
  CHECK(status != -2);

  // One debug line per refused client, nothing louder.
  CHECK(eventually([&] { return count_lines(node.proc->output(), "event=tls_handshake_failed") == 2; }, 10s));
  CHECK(node.proc->output().find("level=error") == std::string::npos);
  CHECK(node.proc->output().find("level=warn") == std::string::npos);

  guest.connect(node.port, dir.file("cert.pem"));
  join(guest, host, room);
  relay_both_ways(host, guest, room, "after plaintext");
  auto ping = https_get(node.port, dir.file("cert.pem"), "/api/ping");
  REQUIRE_MESSAGE(ping.status == 200, ping.raw);
  CHECK(json::parse(ping.body)["clientsConnected"] == 2);
}

TEST_CASE("SIGHUP: new connections get the new certificate while open ones keep relaying, and a broken file keeps the old") {
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 2001, "first");
  // Clients of either certificate trust both.
  make_cert(dir.file("next-cert.pem"), dir.file("next-key.pem"), 2002, "second");
  {
    std::ofstream both(dir.file("ca.pem"));
    both << std::ifstream(dir.file("cert.pem")).rdbuf() << std::ifstream(dir.file("next-cert.pem")).rdbuf();
  }
  tls_node node{dir};
  tls_ws_client host, guest;
  host.connect(node.port, dir.file("ca.pem"));
  guest.connect(node.port, dir.file("ca.pem"));
  CHECK(host.peer_certificate().find("serial=07D1") != std::string::npos); // 2001
  auto room = create_room(host);
  join(guest, host, room);

  // Renewal in place, as certbot or cert-manager do it.
  fs::rename(dir.file("next-cert.pem"), dir.file("cert.pem"));
  fs::rename(dir.file("next-key.pem"), dir.file("key.pem"));
  node.proc->signal(SIGHUP);
  REQUIRE(node.proc->wait_for_line("event=tls_reloaded", 10s));
  tls_ws_client later;
  later.connect(node.port, dir.file("ca.pem"));
  MESSAGE(later.peer_certificate());
  CHECK(later.peer_certificate().find("serial=07D2") != std::string::npos); // 2002
  CHECK(later.peer_certificate().find("O=second") != std::string::npos);
  auto seen = shell("openssl s_client -connect 127.0.0.1:" + std::to_string(node.port) +
                    " -servername localhost 2>/dev/null | openssl x509 -noout -serial");
  CHECK(seen.output.find("serial=07D2") != std::string::npos);
  // Opened before the reload: still relaying in both directions.
  relay_both_ways(host, guest, room, "across a reload");

  // A broken certificate file: the reload fails loudly and the node keeps serving the last good one.
  { std::ofstream(dir.file("cert.pem")) << "-----BEGIN CERTIFICATE-----\nnot base64\n"; }
  node.proc->signal(SIGHUP);
  REQUIRE(node.proc->wait_for_line("event=tls_reload_failed", 10s));
  tls_ws_client after_broken;
  after_broken.connect(node.port, dir.file("ca.pem"));
  CHECK(after_broken.peer_certificate().find("serial=07D2") != std::string::npos);
  relay_both_ways(host, guest, room, "after a failed reload");
  CHECK(node.proc->output().find("event=exit") == std::string::npos);
}

TEST_CASE("SIGHUP to a node without TLS is logged and ignored") {
  child_process node{{SIGNAL_NODE_BIN}, node_env()};
  auto port = wait_for_port(node, 20s);
  REQUIRE(port);
  node.signal(SIGHUP);
  REQUIRE(node.wait_for_line("action=ignored", 10s));
  CHECK(http_request(*port, "GET", "/api/ping").status == 200);
  node.signal(SIGTERM);
  auto status = node.wait_exit(15s);
  REQUIRE(status);
  CHECK(*status == 0);
}

TEST_CASE("a TLS node refuses to start, naming the setting, without both files or with unusable ones") {
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 3001, "first");
  make_cert(dir.file("other-cert.pem"), dir.file("other-key.pem"), 3002, "other");
  { std::ofstream(dir.file("junk.pem")) << "not a certificate\n"; }
  auto refused = [&](std::map<std::string, std::string> tls, const std::string& setting) {
    child_process node{{SIGNAL_NODE_BIN}, node_env(tls)};
    auto status = node.wait_exit(20s);
    REQUIRE(status);
    CHECK(*status != 0);
    INFO(node.output());
    CHECK(node.output().find(setting + ": ") != std::string::npos);
    CHECK(node.output().find("event=listening") == std::string::npos);
  };
  refused({{"TLS_CERT_FILE", dir.file("cert.pem")}}, "TLS_KEY_FILE");
  refused({{"TLS_KEY_FILE", dir.file("key.pem")}}, "TLS_CERT_FILE");
  refused({{"TLS_CERT_FILE", dir.file("missing.pem")}, {"TLS_KEY_FILE", dir.file("key.pem")}}, "TLS_CERT_FILE");
  refused({{"TLS_CERT_FILE", dir.file("junk.pem")}, {"TLS_KEY_FILE", dir.file("key.pem")}}, "TLS_CERT_FILE");
  refused({{"TLS_CERT_FILE", dir.file("cert.pem")}, {"TLS_KEY_FILE", dir.file("junk.pem")}}, "TLS_KEY_FILE");
  refused({{"TLS_CERT_FILE", dir.file("cert.pem")}, {"TLS_KEY_FILE", dir.file("other-key.pem")}}, "TLS_KEY_FILE");
}

TEST_CASE("METRICS_ALLOW: /metrics answers listed clients only, resolved as for the per-address cap") {
  // The test's client is 127.0.0.1: outside 10.0.0.0/8, and X-Forwarded-For
  // from an untrusted peer is ignored.
  child_process direct{{SIGNAL_NODE_BIN}, node_env({{"METRICS_ALLOW", "10.0.0.0/8"}})};
  auto port = wait_for_port(direct, 20s);
  REQUIRE(port);
  CHECK(http_request(*port, "GET", "/metrics").status == 403);
  CHECK(http_request(*port, "GET", "/metrics", {{"X-Forwarded-For", "10.1.2.3"}}).status == 403);
  CHECK(http_request(*port, "GET", "/api/ping").status == 200);
  CHECK(http_request(*port, "GET", "/healthz").status == 200);
  CHECK(http_request(*port, "GET", "/readyz").status == 200);

  child_process loopback{{SIGNAL_NODE_BIN}, node_env({{"METRICS_ALLOW", "127.0.0.0/8,::1"}})};
  port = wait_for_port(loopback, 20s);
  REQUIRE(port);
  auto ok = http_request(*port, "GET", "/metrics");
  CHECK(ok.status == 200);
  CHECK(ok.body.find("signal_") != std::string::npos);

  // Behind a trusted proxy the client X-Forwarded-For names is the one checked.
  child_process proxied{{SIGNAL_NODE_BIN},
                        node_env({{"METRICS_ALLOW", "10.0.0.0/8"}, {"TRUSTED_PROXIES", "127.0.0.1"}})};
  port = wait_for_port(proxied, 20s);
  REQUIRE(port);
  CHECK(http_request(*port, "GET", "/metrics", {{"X-Forwarded-For", "10.1.2.3"}}).status == 200);
  CHECK(http_request(*port, "GET", "/metrics", {{"X-Forwarded-For", "203.0.113.9"}}).status == 403);
  CHECK(http_request(*port, "GET", "/metrics").status == 403); // the proxy itself is not listed
  CHECK(http_request(*port, "GET", "/api/ping", {{"X-Forwarded-For", "203.0.113.9"}}).status == 200);

  // The same over TLS, from openssl s_client.
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 4001, "metrics");
  tls_node tls{dir, {{"METRICS_ALLOW", "10.0.0.0/8"}, {"TRUSTED_PROXIES", "127.0.0.1"}}};
  auto status_of = [&](const std::string& path, const std::string& xff) {
    return https_get(tls.port, dir.file("cert.pem"), path, xff.empty() ? "" : "X-Forwarded-For: " + xff).status;
  };
  CHECK(status_of("/metrics", "10.9.9.9") == 200);
  CHECK(status_of("/metrics", "") == 403);
  CHECK(status_of("/api/ping", "") == 200);
}

TEST_CASE("a client silent before or after the TLS handshake is closed at the handshake deadline") {
  temp_dir dir;
  make_cert(dir.file("cert.pem"), dir.file("key.pem"), 5001, "deadline");
  tls_node node{dir, {{"HANDSHAKE_TIMEOUT_MS", "300"}}};
  net::ip::tcp::endpoint ep{net::ip::make_address("127.0.0.1"), node.port};
  net::io_context ioc;

  // Never starts the TLS handshake.
  net::ip::tcp::socket silent{ioc};
  silent.connect(ep);
  CHECK(closed_by_node(ioc, silent, 10s));

  // Completes the handshake, then never sends a request: the same deadline.
  net::ssl::context ctx{net::ssl::context::tls_client};
  ctx.load_verify_file(dir.file("cert.pem"));
  ctx.set_verify_mode(net::ssl::verify_peer);
  net::ssl::stream<net::ip::tcp::socket> tls{ioc, ctx};
  tls.next_layer().connect(ep);
  tls.handshake(net::ssl::stream_base::client);
  CHECK(closed_by_node(ioc, tls, 10s));

  // The node serves on.
  tls_ws_client later;
  later.connect(node.port, dir.file("cert.pem"));
  CHECK(later.tls_version().rfind("TLSv1.", 0) == 0);
}
