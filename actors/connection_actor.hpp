// The actor of one WebSocket connection. A CAF actor in its own right (an
// address, a mailbox, monitors), but a small one: not a scheduled actor with a
// behavior stack, just an enqueue that hands each message to the connection's
// I/O thread, where frames from its own socket are handled too. So everything
// of one connection runs on one thread, without CAF's scheduler in between.
// It parses each inbound frame once, enforces the protocol (membership, rate,
// one request in flight) and relays validated frames, unchanged, straight to
// the peer's connection actor: by a plain call when the peer is on the same
// thread, by one post when it is not. It must never block, and never forward a
// frame it did not validate.
#pragma once

#include "actors/link.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>

namespace signaling {

struct node_context;

// Builds the handler the transport attaches to each upgraded WebSocket.
connection_handler_factory connection_actor_factory(node_context& ctx);

// Hands `frame` for room `room_id` to connection actor `conn` on its own I/O
// thread, without a mailbox element: how frames from other nodes reach a
// member (cluster/). Dropped if the connection has left that room meanwhile.
void deliver_to_connection(const caf::actor& conn, std::string room_id, frame_ptr frame, std::int64_t received);
// The same for a frame in the caller's buffer: on the connection's own
// thread it is written at once (copied only if the socket does not take it
// all), else copied and posted as above.
void deliver_to_connection(const caf::actor& conn, std::string_view room_id, std::string_view frame,
                           std::int64_t received);

} // namespace signaling
