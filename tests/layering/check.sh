#!/usr/bin/env bash
# The layers are enforced by the build (top CMakeLists.txt, signal_layer):
# each probe here is compiled as part of one layer's library, and a probe
# that includes a folder its layer may not see must fail with "No such file",
# while the control probe compiles. Usage: check.sh BUILD_DIR
set -uo pipefail
build=$1
failed=0
expect() { # expect ok|missing TARGET HEADER
  local want=$1 target=$2 header=${3:-}
  local out
  out=$(cmake --build "$build" --target "$target" 2>&1)
  local status=$?
  if [ "$want" = ok ]; then
    if [ $status -eq 0 ]; then echo "PASS  $target compiles"; else echo "FAIL  $target should compile:"; echo "$out" | tail -5; failed=1; fi
  else
    if [ $status -ne 0 ] && grep -q "$header: No such file or directory" <<<"$out"; then
      echo "PASS  $target fails: $header is not visible to its layer"
    else
      echo "FAIL  $target: expected '$header: No such file or directory', got status $status:"; echo "$out" | tail -5; failed=1
    fi
  fi
}
expect ok layering_actors_includes_own
expect missing layering_actors_includes_transport transport/server.hpp
expect missing layering_actors_includes_cluster cluster/redis_bridge.hpp
expect missing layering_transport_includes_cluster cluster/redis_client.hpp
expect missing layering_cluster_includes_transport transport/server.hpp
exit $failed
