#include "transport/client_address.hpp"

#include <algorithm>
#include <stdexcept>

namespace signaling::transport {

namespace ip = boost::asio::ip;

namespace {

// ::ffff:a.b.c.d is the IPv4 client a dual-stack socket reports; treat it as such.
ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// One X-Forwarded-For entry: "1.2.3.4", "2001:db8::1", and the forms some
// proxies write with a port, "1.2.3.4:5678" and "[2001:db8::1]:5678".
bool parse_hop(std::string_view s, ip::address& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos)
      return false;
    s = s.substr(1, close - 1);
  } else if (auto colon = s.find(':'); colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    s = s.substr(0, colon); // IPv4 with a port (IPv6 has several colons)
  }
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(s), ec);
  if (ec)
    return false;
  out = unmapped(a);
  return true;
}

} // namespace

bool cidr_block::contains(const ip::address& raw) const {
  auto a = unmapped(raw);
  if (a.is_v4() != base.is_v4())
    return false;
  auto prefix_equal = [this](const auto& x, const auto& y) {
    unsigned bits = prefix;
    for (std::size_t i = 0; i < x.size() && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
      unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
      if ((x[i] & mask) != (y[i] & mask))
        return false;
    }
    return true;
  };
  return a.is_v4() ? prefix_equal(a.to_v4().to_bytes(), base.to_v4().to_bytes())
                   : prefix_equal(a.to_v6().to_bytes(), base.to_v6().to_bytes());
}

std::vector<cidr_block> parse_cidr_list(const std::vector<std::string>& items) {
  std::vector<cidr_block> out;
  for (const auto& item : items) {
    auto slash = item.find('/');
    boost::system::error_code ec;
    auto base = ip::make_address(item.substr(0, slash), ec);
    if (ec)
      throw std::invalid_argument("\"" + item + "\" is not an address or CIDR block");
    base = unmapped(base);
    unsigned max = base.is_v4() ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string::npos) {
      auto bits = item.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          std::stoul(bits) > max)
        throw std::invalid_argument("\"" + item + "\" has a bad prefix length");
      prefix = static_cast<unsigned>(std::stoul(bits));
    }
    out.push_back(cidr_block{base, prefix});
  }
  return out;
}

bool client_address_policy::trusted(const ip::address& a) const {
  return std::any_of(trusted_.begin(), trusted_.end(), [&](const cidr_block& b) { return b.contains(a); });
}

ip::address client_address_policy::client(const ip::address& peer, std::string_view forwarded_for) const {
  auto current = unmapped(peer);
  if (!trusted(current))
    return current;
  // Right to left: each entry was appended by the hop to its right, which we
  // trust as long as every hop so far was a trusted proxy.
  while (!trim(forwarded_for).empty()) {
    auto comma = forwarded_for.rfind(',');
    auto entry = comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
    forwarded_for = comma == std::string_view::npos ? std::string_view{} : forwarded_for.substr(0, comma);
    if (trim(entry).empty())
      continue;
    ip::address hop;
    if (!parse_hop(entry, hop))
      return current; // garbage from the client itself: the hop that reported it is all we know
    current = hop;
    if (!trusted(current))
      return current;
  }
  return current;
}

std::string address_key(const ip::address& raw) {
  auto a = unmapped(raw);
  if (a.is_v4())
    return a.to_string();
  auto bytes = a.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return ip::make_address_v6(bytes).to_string() + "/64";
}

per_address_counter::slot per_address_counter::acquire(const std::string& key, std::size_t cap) {
  if (cap == 0) {
    static const slot unlimited = std::make_shared<char>(0);
    return unlimited;
  }
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto& n = counts_[key];
    if (n >= cap)
      return nullptr;
    ++n;
  }
  // The slot keeps the counter alive and gives the place back when it goes.
  // (It points at the counter only so that it tests true; nothing reads it.)
  return slot(static_cast<void*>(this), [self = shared_from_this(), key](void*) { self->release(key); });
}

std::size_t per_address_counter::count(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = counts_.find(key);
  return i == counts_.end() ? 0 : i->second;
}

void per_address_counter::release(const std::string& key) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = counts_.find(key);
  if (i != counts_.end() && --i->second == 0)
    counts_.erase(i);
}

} // namespace signaling::transport
