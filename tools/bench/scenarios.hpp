// The load shapes of signal-bench. Each speaks only the seed protocol
// (create-room, join-room, signal), so it drives our node and the seed peer
// alike, and returns its figures as one JSON object (main prints it as a
// table or as JSON).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct options {
  std::string scenario; // relay, idle, storm, flood
  std::string label;    // free text carried into the output ("ours", "seed")
  std::string hosts_url = "ws://127.0.0.1:4000/";
  std::string guests_url = "ws://127.0.0.1:4000/";
  std::size_t threads = 1;
  std::size_t connect_concurrency = 256; // handshakes in flight, all threads; 0 = unbounded
  std::size_t source_addrs = 0;          // spread over 127.0.0.2.. (0: kernel's choice; idle: auto)
  bool source_addrs_given = false;
  std::vector<int> server_pids;
  double setup_timeout = 120; // seconds for connecting and pairing
  // relay, flood: the order guests join in after every host has created its
  // room. "shuffled" (as browsers arrive: a room's two members connect at
  // unrelated times) or "same" (guest i right after guest i-1, in the hosts'
  // order; a multi-threaded server that deals connections out in turn then
  // puts both members of every room on one thread by construction).
  std::string guest_order = "shuffled";

  // relay
  std::size_t rooms = 100;
  std::uint64_t messages = 0; // per host; 0 = run for `duration`
  std::size_t size = 600;     // bytes of each signal frame
  std::size_t window = 4;     // offers in flight per host
  double duration = 10;
  double warmup = 2;
  double rate = 0; // target relays/s (offers + answers); 0 = as fast as the window allows
                   // (idle: > 0 runs a paced relay through --rooms of the held rooms)

  // flood (rooms, messages, size as above; defaults 2000 rooms, 50 messages)
  std::string senders = "hosts";  // hosts, or both (guests flood back at the same time)
  std::size_t warmup_rounds = 0;  // unmeasured floods before the measured one

  // idle
  std::size_t connections = 1000;
  double hold = 10;
  unsigned keepalive = 20; // seconds of silence before a client ping
  double settle = 2;       // seconds between the last join and the RSS sample

  // storm
  std::size_t clients = 2000;
  double timeout = 30; // storm: for all pairs; flood: for each round to be delivered
};

nlohmann::json run_relay(const options& o);
nlohmann::json run_idle(const options& o);
nlohmann::json run_storm(const options& o);
nlohmann::json run_flood(const options& o);

} // namespace bench
