// How a rank waits for other ranks: small collectives finish within the
// spin; after that the rank gives its core away, first by yielding (cheap,
// keeps latency low) and then by short sleeps, so with more ranks than cores
// the rank that still has work to do gets the CPU.
#pragma once

#include <sched.h>

#include <chrono>
#include <thread>

namespace lockstep {

// One pause of a polling loop that has waited `waited` so far.
inline void back_off(std::chrono::steady_clock::duration waited) {
  if (waited < std::chrono::microseconds(50)) return;
  if (waited < std::chrono::milliseconds(10)) {
    sched_yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

}  // namespace lockstep
