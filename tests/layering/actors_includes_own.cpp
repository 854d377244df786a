// Must compile: the control case, so a failure of the others means the layer
// rule and nothing else. actors/ sees itself and telemetry/.
#include "actors/link.hpp"
#include "actors/room_seats.hpp"
#include "telemetry/stats.hpp"
int layering_probe() {
  return 0;
}
