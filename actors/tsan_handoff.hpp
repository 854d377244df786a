// Telling ThreadSanitizer about a hand-off it cannot see. CAF 0.17.6 comes
// from Debian uninstrumented, so a message's trip through an actor's mailbox
// (a lock-free queue inside libcaf_core.so) is invisible to TSan: an object
// made on one thread, sent to an actor, and passed on by that actor to a
// third thread (a posted delivery on an I/O thread) looks unsynchronised
// between the first and the third, and neither stack has a libcaf frame for
// tests/sanitizers/tsan.supp to match. The sender calls handed_over(p) just
// before the send, the actor taken_over(p) when it handles the message: the
// same happens-before edge the mailbox gives, made visible. No-ops outside
// the tsan preset.
#pragma once

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace signaling::tsan {

inline void handed_over([[maybe_unused]] const void* p) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(const_cast<void*>(p));
#endif
}

inline void taken_over([[maybe_unused]] const void* p) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(const_cast<void*>(p));
#endif
}

} // namespace signaling::tsan
