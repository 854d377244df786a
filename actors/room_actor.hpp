// One room: its id, its host and (once joined) its guest. It admits the guest,
// introduces the two members to each other (after which they relay directly,
// connection actor to connection actor), and ends the room when either member
// leaves or its connection actor terminates (the seed's rule), telling the
// remaining member. It never sees a relayed frame.
#pragma once

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <string>

namespace signaling {

struct room_state {
  std::string id;
  caf::actor host;
  caf::actor guest;
  static inline const char* name = "room";
};

caf::behavior room_actor(caf::stateful_actor<room_state>* self, std::string id, caf::actor host);

} // namespace signaling
