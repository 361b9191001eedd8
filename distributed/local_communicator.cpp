#include "distributed/local_communicator.h"

#include <cstring>

namespace lockstep {

void LocalCommunicator::allgather(const void* send, void* recv, size_t bytes) {
  // memmove: callers may gather in place (send == recv).
  if (bytes > 0 && send != recv) std::memmove(recv, send, bytes);
}

std::unique_ptr<Communicator> LocalCommunicator::split(int, int) {
  return std::make_unique<LocalCommunicator>();
}

}  // namespace lockstep
