// Which client a WebSocket speaks for, and how many WebSockets each client
// holds (MAX_CONNECTIONS_PER_IP). The TCP peer is the client, unless the peer
// is a trusted proxy (TRUSTED_PROXIES): then it is the nearest address in
// X-Forwarded-For that is not a trusted proxy. The header is never believed
// from anyone else, or anybody could spend someone else's budget.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace signaling::transport {

// One block: "10.0.0.0/8", "2001:db8::/32", or a bare address (/32, /128).
struct cidr_block {
  boost::asio::ip::address base;
  unsigned prefix = 0;
  bool contains(const boost::asio::ip::address& a) const;
};

// Parses TRUSTED_PROXIES items; throws std::invalid_argument naming the bad one.
std::vector<cidr_block> parse_cidr_list(const std::vector<std::string>& items);

class client_address_policy {
public:
  explicit client_address_policy(std::vector<cidr_block> trusted) : trusted_(std::move(trusted)) {}
  bool trusted(const boost::asio::ip::address& a) const;
  // `peer`, or, when `peer` is trusted, the client X-Forwarded-For names:
  // walking from the right (the hop nearest us), the first address that is
  // not a trusted proxy. If every hop is trusted, the leftmost; if that first
  // untrusted entry is not an address at all, the hop that reported it.
  // `forwarded_for` is every X-Forwarded-For value, comma-joined.
  boost::asio::ip::address client(const boost::asio::ip::address& peer, std::string_view forwarded_for) const;

private:
  std::vector<cidr_block> trusted_;
};

// The key a client is counted under: its address (an IPv4-mapped IPv6 address
// as IPv4), or for IPv6 its /64, since one host usually holds a whole /64.
std::string address_key(const boost::asio::ip::address& a);

// Open WebSockets per key. A slot is handed back when its last copy goes.
class per_address_counter : public std::enable_shared_from_this<per_address_counter> {
public:
  using slot = std::shared_ptr<void>;
  // A slot for `key`, or null if `key` holds `cap` already; cap 0: no cap.
  slot acquire(const std::string& key, std::size_t cap);
  std::size_t count(const std::string& key) const;

private:
  void release(const std::string& key);
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> counts_;
};

} // namespace signaling::transport
