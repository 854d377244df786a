// Must not compile: actors/ sits below transport/ (see the top CMakeLists.txt).
#include "transport/server.hpp"
