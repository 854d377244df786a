// Must not compile: cluster/ and transport/ do not see each other.
#include "transport/server.hpp"
