// A check shared by the shared-memory and hierarchical all-reduce tests:
// eight reductions of odd sizes (one empty, one of a single float) in flight
// at once, waited in an order unlike the one they started in; every buffer
// must hold `expected`.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "core/communicator.h"
#include "distributed/shm_allreduce.h"

namespace lockstep {

// value(rank, i, salt): rank's element i of buffer `salt`;
// expected(ranks, i, salt): what the reduction must leave there.
template <typename Value, typename Expected>
void expect_many_tickets_in_any_order(ShmAllreduce& reducer, const Communicator& world, Value value,
                                      Expected expected) {
  const int r = world.rank(), n = world.size();
  const size_t sizes[] = {3000, 1, 9000, 0, 4096, 777, 20000, 5};
  std::vector<std::vector<float>> bufs;
  for (int salt = 0; salt < 8; ++salt) {
    bufs.emplace_back(sizes[salt]);
    for (size_t i = 0; i < sizes[salt]; ++i) bufs.back()[i] = value(r, i, salt);
  }
  int tickets[8];
  for (int k = 0; k < 8; ++k) tickets[k] = reducer.start(bufs[k].data(), bufs[k].size(), "many");
  for (int k : {5, 0, 7, 2, 1, 6, 3, 4}) reducer.wait(tickets[k], 60);
  for (int k = 0; k < 8; ++k) {
    for (size_t i = 0; i < sizes[k]; ++i) ASSERT_EQ(bufs[k][i], expected(n, i, k)) << k << " " << i;
  }
}

}  // namespace lockstep
