// Must not compile: transport/ and cluster/ do not see each other.
#include "cluster/redis_client.hpp"
