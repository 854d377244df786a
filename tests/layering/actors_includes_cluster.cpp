// Must not compile: actors/ sits below cluster/.
#include "cluster/redis_bridge.hpp"
