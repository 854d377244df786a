#include "cluster/scripts.hpp"

#include <cstdio>
#include <cstdlib>

namespace signaling::cluster {

namespace {

bool is_array(const redis_result& r, std::size_t at_least) {
  return r.ok && r.reply.kind == redis_reply::array && r.reply.elements.size() >= at_least;
}

bool is_integer(const redis_result& r) {
  return r.ok && r.reply.kind == redis_reply::integer;
}

} // namespace

create_reply create_reply::decode(const redis_result& r) {
  if (!is_integer(r))
    return {};
  return {r.reply.value == 1 ? outcome::ok : outcome::refused};
}

join_reply join_reply::decode(const redis_result& r) {
  join_reply j;
  if (!is_array(r, 1))
    return j;
  auto& e = r.reply.elements;
  if (e[0].value != 1 || e.size() < 4) {
    j.result = outcome::refused;
    return j;
  }
  j.result = outcome::ok;
  j.host_node = e[1].str;
  j.host_conn = e[2].str;
  j.gen = e[3].str;
  return j;
}

budget_reply budget_reply::decode(const redis_result& r) {
  if (!is_integer(r))
    return {};
  return {r.reply.value == 1 ? outcome::ok : outcome::refused};
}

restore_reply restore_reply::decode(const redis_result& r) {
  if (!is_integer(r))
    return {};
  return {r.reply.value == 1 ? outcome::ok : outcome::refused};
}

park_reply park_reply::decode(const redis_result& r) {
  park_reply p;
  if (!is_array(r, 1))
    return p;
  auto& e = r.reply.elements;
  p.result = e[0].value == 1 && e.size() >= 2 ? outcome::ok : outcome::refused;
  if (p.result == outcome::ok)
    p.other_node = e[1].str;
  return p;
}

seat_frames_reply seat_frames_reply::decode(const redis_result& r) {
  if (!is_integer(r))
    return {};
  switch (r.reply.value) {
    case 1: return {delivered};
    case 2: return {kept};
    case 3: return {unheard};
    default: return {gone};
  }
}

resume_reply resume_reply::decode(redis_result r) {
  resume_reply rr;
  if (!is_array(r, 1))
    return rr;
  auto& e = r.reply.elements;
  if (e[0].value != 1 || e.size() < 8) {
    rr.result = outcome::refused;
    return rr;
  }
  rr.result = outcome::ok;
  rr.role = std::move(e[1].str);
  rr.gen = std::move(e[2].str);
  rr.other_node = std::move(e[3].str);
  rr.other_conn = std::move(e[4].str);
  rr.other_parked = !e[5].str.empty();
  rr.dropped = std::strtoull(e[6].str.c_str(), nullptr, 10);
  rr.acked = std::strtoll(e[7].str.c_str(), nullptr, 10);
  for (std::size_t i = 8; i < e.size(); ++i)
    rr.frames.push_back(std::move(e[i].str));
  return rr;
}

expire_reply expire_reply::decode(const redis_result& r) {
  return {is_integer(r) && (r.reply.value == 1 || r.reply.value == 2)};
}

tick_reply tick_reply::decode(const redis_result& r) {
  tick_reply t;
  if (!is_array(r, 5))
    return t;
  auto& e = r.reply.elements;
  t.ok = true;
  t.had_alive = e[0].value == 1;
  t.was_reaped = e[1].value == 1;
  t.totals = cluster_view::totals{e[2].value, e[3].value, e[4].value};
  for (std::size_t i = 5; i < e.size(); ++i)
    t.dead.push_back(e[i].str);
  return t;
}

reap_reply reap_reply::decode(const redis_result& r) {
  reap_reply out;
  if (!r.ok || r.reply.kind != redis_reply::array)
    return out;
  out.ok = true;
  auto& e = r.reply.elements;
  for (std::size_t i = 0; i + 2 < e.size(); i += 3)
    out.survivors.push_back({e[i].str, e[i + 1].str, e[i + 2].str});
  return out;
}

shards_reply shards_reply::decode(const redis_result& r) {
  shards_reply out;
  if (!is_array(r, 1))
    return out;
  auto& e = r.reply.elements;
  out.ok = true;
  out.match = e[0].value == 1;
  if (!out.match && e.size() >= 2)
    out.stored = e[1].str;
  return out;
}

list_nodes_reply list_nodes_reply::decode(const redis_result& r) {
  list_nodes_reply out;
  if (!r.ok || r.reply.kind != redis_reply::array)
    return out;
  out.ok = true;
  auto& e = r.reply.elements;
  for (std::size_t i = 0; i + 2 < e.size(); i += 3) {
    cluster_view::node_entry n;
    n.id = e[i].str;
    n.alive = !e[i + 1].str.empty();
    long long rooms = 0, conns = 0;
    if (n.alive && std::sscanf(e[i + 1].str.c_str(), "%lld %lld", &rooms, &conns) == 2) {
      n.rooms = rooms;
      n.connections = conns;
    }
    n.info = e[i + 2].str;
    out.nodes.push_back(std::move(n));
  }
  return out;
}

} // namespace signaling::cluster
