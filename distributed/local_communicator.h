// The single-process communicator: rank 0 of 1. Every collective over one
// rank is the identity, so all numerical code (and every unit test) runs
// without MPI. It never throws.
#pragma once

#include <memory>

#include "core/communicator.h"

namespace lockstep {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }

  void allreduce_sum(float*, size_t, const char* = "allreduce_sum") override {}
  void allreduce_sum(double*, size_t, const char* = "allreduce_sum") override {}
  void allreduce_max(int64_t*, size_t, const char* = "allreduce_max") override {}

  // Nothing is in flight, so every ticket is already complete.
  int start_allreduce_sum(float*, size_t, const char*) override { return 0; }
  void wait(int) override {}

  void allreduce_moments(Moments*, size_t, const char* = "allreduce_moments") override {}

  void broadcast(void*, size_t, int) override {}
  void allgather(const void* send, void* recv, size_t bytes) override;
  void barrier() override {}

  std::unique_ptr<Communicator> split(int color, int key) override;
};

}  // namespace lockstep
