// Inference over a data set, split over ranks: each rank takes a contiguous
// slice, so every sample is counted exactly once.
#pragma once

#include <functional>

#include "core/communicator.h"
#include "core/data/dataset.h"
#include "core/loss.h"
#include "core/model.h"

namespace lockstep {

struct EvalTotals {
  double loss_sum = 0;
  double correct = 0;
  double count = 0;
};

// Loss and accuracy sums over all of `data` (summed over ranks). chunk_rows
// must not exceed the model's reserved rows.
// split_over_ranks false: every rank already holds a different part (LOCAL
// shards) and evaluates all of it.
EvalTotals evaluate_model(Model& model, const Loss& loss, const Dataset& data, Communicator& world, int64_t chunk_rows,
                          bool split_over_ranks = true);

// Calls sink(first_sample_index, outputs, rows) for this rank's slice of
// `data`, in order, in chunks.
void predict_model(Model& model, const Dataset& data, Communicator& world, int64_t chunk_rows,
                   const std::function<void(int64_t, const float*, int64_t)>& sink, bool split_over_ranks = true);

}  // namespace lockstep
