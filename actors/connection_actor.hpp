// The actor of one WebSocket connection. It is a CAF actor_companion whose
// mailbox is drained on the connection's strand, so frames from its own
// socket and messages from other actors are handled on one thread at a time,
// without a hop to CAF's scheduler. It parses each inbound frame once,
// enforces the protocol (membership, rate, one request in flight) and relays
// validated frames, unchanged, straight to the peer's connection actor.
// It must never block, and never forward a frame it did not validate.
#pragma once

#include "transport/ws_link.hpp"

#include <memory>

namespace signaling {

struct node_context;

// Builds the handler the transport attaches to each upgraded WebSocket.
transport::ws_handler_factory connection_actor_factory(node_context& ctx);

} // namespace signaling
