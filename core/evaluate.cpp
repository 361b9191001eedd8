#include "core/evaluate.h"

#include <algorithm>

#include "core/data/batching.h"

namespace lockstep {

void predict_model(Model& model, const Dataset& data, Communicator& world, int64_t chunk_rows,
                   const std::function<void(int64_t, const float*, int64_t)>& sink, bool split_over_ranks) {
  const Slice mine = split_over_ranks ? even_slice(data.num_samples, world.rank(), world.size())
                                      : Slice{0, data.num_samples};
  StepContext ctx;  // inference: no dropout, moving statistics, no communication
  for (int64_t done = 0; done < mine.size; done += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, mine.size - done);
    const int64_t first = mine.begin + done;
    const float* out = model.forward(ctx, data.sample(first), rows);
    sink(first, out, rows);
  }
}

EvalTotals evaluate_model(Model& model, const Loss& loss, const Dataset& data, Communicator& world,
                          int64_t chunk_rows, bool split_over_ranks) {
  LossTotals totals;
  const int64_t width = model.output_width();
  int64_t count = 0;
  predict_model(
      model, data, world, chunk_rows,
      [&](int64_t first, const float* out, int64_t rows) {
        loss.evaluate(out, rows, width, data.label(first), data.label_width, data.label_kind, 0.0f, nullptr, totals,
                      data.weights_from(first));
        count += rows;
      },
      split_over_ranks);
  double sums[3] = {totals.loss_sum, totals.correct, static_cast<double>(count)};
  world.allreduce_sum(sums, 3);
  return EvalTotals{sums[0], sums[1], sums[2]};
}

}  // namespace lockstep
