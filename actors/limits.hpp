// Every limit a node enforces, in one place, with its default.
// Loaded by node/config.cpp from flags and environment, printed at start-up,
// and read (never written) by transport/ and actors/ after start.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace signaling {

struct limits {
  // Largest WebSocket message accepted, in bytes. Larger: close 1009 before
  // the payload is buffered.
  std::size_t max_message_bytes = 64 * 1024;
  // Deepest JSON nesting accepted; deeper documents are rejected while
  // parsing (code "too-deep"), before anything recursive can touch them.
  std::size_t max_json_depth = 32;
  // Bytes waiting to be written to one client. A reader that falls this far
  // behind is disconnected; the queue never grows past it.
  std::size_t max_send_queue_bytes = 1024 * 1024;
  // Sustained messages per second from one connection, with a burst allowance.
  double rate_per_second = 100;
  double rate_burst = 200;
  // Messages refused for rate in a row before the connection is closed 1008.
  std::uint32_t rate_strikes_before_close = 50;
  // Open WebSocket connections on this node; further upgrades get 503.
  std::size_t max_connections = 250000;
  // TCP accept to completed WebSocket upgrade (and one HTTP request).
  std::chrono::milliseconds handshake_timeout{10000};
  // No traffic for this long closes the connection; a ping is sent at half.
  std::chrono::milliseconds idle_timeout{60000};
  // SIGTERM: how long /readyz fails while the node still serves and accepts,
  // so load balancers stop sending new clients before the node stops accepting.
  std::chrono::milliseconds drain_delay{3000};
  // Then: how long open connections get to finish their close handshake.
  std::chrono::milliseconds shutdown_timeout{10000};
  // The close code sent to every client on shutdown: 1012 (service restart:
  // reconnect, through the load balancer, to another node) or 1001.
  std::uint16_t shutdown_close_code = 1012;
  // Digits of a room id (6 as in the seed; more makes guessing harder).
  unsigned room_id_digits = 6;
  // A WebSocket in no room (never joined, or its room ended) for this long is
  // closed 1008: a socket that answers pings but never joins holds a slot
  // (and a descriptor) for nothing.
  std::chrono::milliseconds join_timeout{300000};
  // Open WebSockets, handshakes included, per client address (IPv6: per /64);
  // more get HTTP 429. 0: no cap (a node behind a balancer sees few addresses
  // unless trusted_proxies is set; see docs/security.md).
  std::size_t max_connections_per_ip = 0;
  // Proxies (CIDR blocks) whose X-Forwarded-For names the client. From any
  // other peer the header is ignored: the TCP peer is the client.
  std::vector<std::string> trusted_proxies;
  // join-room refusals (room-unavailable) one connection may collect; the
  // last is followed by close 1008, so guessing codes costs a connection per
  // this many guesses.
  std::uint32_t join_misses_before_close = 20;
  // Every refusal after a connection's first is answered this late, and the
  // connection's next join-room waits for it (busy): at most one guess per
  // this interval per connection.
  std::chrono::milliseconds join_miss_delay{1000};
  // Refused join-room per client address (as for max_connections_per_ip) per
  // minute, shared by all its connections; past it, join-room from that
  // address is refused rate-limited without a lookup. 0: no budget.
  std::uint32_t join_misses_per_ip = 60;
  // Seat resume (docs/protocol.md, "Seats"): a member whose connection is
  // lost rather than closed keeps its seat this long; the frames its peer
  // sends meanwhile are kept, at most this many and this many bytes (the
  // oldest dropped first). 0 s: no resume, a lost connection ends the room
  // as in the seed.
  std::chrono::seconds resume_grace{15};
  std::uint32_t resume_max_frames = 256;
  std::size_t resume_max_bytes = 1 << 20;
};

} // namespace signaling
