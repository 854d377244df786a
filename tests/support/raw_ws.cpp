#include "support/raw_ws.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <random>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace testing {

namespace {

std::uint32_t random_key() {
  static thread_local std::mt19937 gen{std::random_device{}()};
  return gen();
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

std::string make_frame(const frame_spec& f) {
  std::string out;
  out += static_cast<char>((f.fin ? 0x80 : 0) | ((f.rsv & 7) << 4) | (f.opcode & 0x0f));
  std::uint64_t len = f.length ? *f.length : f.payload.size();
  unsigned char mask_bit = f.mask ? 0x80 : 0;
  if (len < 126) {
    out += static_cast<char>(mask_bit | len);
  } else if (len <= 0xffff) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>((len >> 8) & 0xff);
    out += static_cast<char>(len & 0xff);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i)
      out += static_cast<char>((len >> (8 * i)) & 0xff);
  }
  if (!f.mask)
    return out + f.payload;
  std::uint32_t key = random_key();
  unsigned char k[4] = {static_cast<unsigned char>(key >> 24), static_cast<unsigned char>(key >> 16),
                        static_cast<unsigned char>(key >> 8), static_cast<unsigned char>(key)};
  out.append(reinterpret_cast<const char*>(k), 4);
  for (std::size_t i = 0; i < f.payload.size(); ++i)
    out += static_cast<char>(f.payload[i] ^ k[i % 4]);
  return out;
}

std::string make_frame(int opcode, std::string_view payload, bool fin) {
  frame_spec f;
  f.opcode = opcode;
  f.payload = std::string(payload);
  f.fin = fin;
  return make_frame(f);
}

std::string close_payload(std::optional<std::uint16_t> code, std::string_view reason) {
  std::string out;
  if (code) {
    out += static_cast<char>(*code >> 8);
    out += static_cast<char>(*code & 0xff);
  }
  out += reason;
  return out;
}

std::uint16_t server_frame::close_code() const {
  if (opcode != ws_op::close || payload.size() < 2)
    return 0;
  return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                    static_cast<unsigned char>(payload[1]));
}

std::string http_head::header(const std::string& name) const {
  auto i = headers.find(lower(name));
  return i == headers.end() ? std::string{} : i->second;
}

raw_ws::raw_ws(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    ::close(fd_);
    throw std::runtime_error(std::string("connect: ") + std::strerror(e));
  }
}

raw_ws::~raw_ws() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::string raw_ws::upgrade_request(std::uint16_t port, const std::map<std::string, std::string>& extra,
                                    const std::string& method, const std::string& version) {
  std::vector<std::pair<std::string, std::string>> headers = {
    {"Host", "127.0.0.1:" + std::to_string(port)},
    {"Upgrade", "websocket"},
    {"Connection", "Upgrade"},
    {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
    {"Sec-WebSocket-Version", "13"},
  };
  for (auto& [k, v] : extra) {
    bool found = false;
    for (auto& h : headers)
      if (lower(h.first) == lower(k)) {
        h.second = v;
        found = true;
      }
    if (!found)
      headers.emplace_back(k, v);
  }
  std::string req = method + " / " + version + "\r\n";
  for (auto& [k, v] : headers)
    if (!v.empty())
      req += k + ": " + v + "\r\n";
  return req + "\r\n";
}

http_head raw_ws::handshake(const std::string& request, std::chrono::milliseconds timeout) {
  http_head head;
  if (!send(request))
    return head;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(deadline))
      return head;
  std::string text = in_.substr(0, end);
  in_.erase(0, end + 4);
  auto line_end = text.find("\r\n");
  auto status_line = text.substr(0, line_end);
  auto sp = status_line.find(' ');
  if (sp != std::string::npos)
    head.status = std::atoi(status_line.c_str() + sp + 1);
  std::size_t pos = line_end == std::string::npos ? text.size() : line_end + 2;
  while (pos < text.size()) {
    auto eol = text.find("\r\n", pos);
    if (eol == std::string::npos)
      eol = text.size();
    auto line = text.substr(pos, eol - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      head.headers[lower(line.substr(0, colon))] = value;
    }
    pos = eol + 2;
  }
  if (head.status != 101) {
    auto len = static_cast<std::size_t>(std::atoll(head.header("content-length").c_str()));
    while (in_.size() < len)
      if (!fill(deadline))
        break;
    head.body = in_.substr(0, std::min(len, in_.size()));
    in_.erase(0, head.body.size());
  }
  return head;
}

void raw_ws::upgrade(std::uint16_t port) {
  auto head = handshake(upgrade_request(port));
  if (head.status != 101)
    throw std::runtime_error("upgrade answered " + std::to_string(head.status));
}

bool raw_ws::send(std::string_view bytes, std::size_t chunk, std::chrono::microseconds pause) {
  if (chunk == 0)
    chunk = bytes.size();
  while (!bytes.empty()) {
    auto piece = bytes.substr(0, chunk);
    std::size_t sent = 0;
    while (sent < piece.size()) {
      auto n = ::send(fd_, piece.data() + sent, piece.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        return false;
      }
      sent += static_cast<std::size_t>(n);
    }
    bytes.remove_prefix(piece.size());
    if (!bytes.empty() && pause.count() > 0)
      std::this_thread::sleep_for(pause);
  }
  return true;
}

bool raw_ws::fill(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) {
      last_ = event::timeout;
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0) {
      last_ = event::timeout;
      return false;
    }
    char buf[65536];
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    last_ = n == 0 || errno == ECONNRESET ? event::eof : event::error;
    return false;
  }
}

raw_ws::event raw_ws::next(server_frame& out, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (in_.size() >= 2) {
      auto b0 = static_cast<unsigned char>(in_[0]);
      auto b1 = static_cast<unsigned char>(in_[1]);
      std::size_t need = 2;
      std::uint64_t len = b1 & 0x7f;
      if (len == 126)
        need += 2;
      else if (len == 127)
        need += 8;
      bool masked = (b1 & 0x80) != 0;
      if (masked)
        need += 4;
      if (in_.size() >= need) {
        std::size_t pos = 2;
        if (len == 126) {
          len = (static_cast<unsigned char>(in_[2]) << 8) | static_cast<unsigned char>(in_[3]);
          pos = 4;
        } else if (len == 127) {
          len = 0;
          for (int i = 0; i < 8; ++i)
            len = (len << 8) | static_cast<unsigned char>(in_[2 + i]);
          pos = 10;
        }
        unsigned char key[4] = {};
        if (masked) {
          std::memcpy(key, in_.data() + pos, 4);
          pos += 4;
        }
        if (in_.size() >= pos + len) {
          out.fin = (b0 & 0x80) != 0;
          out.rsv = (b0 >> 4) & 7;
          out.opcode = b0 & 0x0f;
          out.masked = masked;
          out.payload = in_.substr(pos, static_cast<std::size_t>(len));
          if (masked)
            for (std::size_t i = 0; i < out.payload.size(); ++i)
              out.payload[i] = static_cast<char>(out.payload[i] ^ key[i % 4]);
          in_.erase(0, pos + static_cast<std::size_t>(len));
          return event::frame;
        }
      }
    }
    if (!fill(deadline))
      return last_;
  }
}

bool raw_ws::wait_eof(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!fill(deadline))
      return last_ == event::eof || last_ == event::error;
    in_.clear(); // whatever still arrives is not the point here
  }
}

void raw_ws::set_receive_buffer(int bytes) {
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

std::string websocket_accept(const std::string& key) {
  std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[64] = {};
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

std::size_t rss_bytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return static_cast<std::size_t>(std::atoll(line.c_str() + 6)) * 1024;
  return 0;
}

} // namespace testing
