#include "core/evaluate.h"

#include <algorithm>

#include "core/batching.h"

namespace lockstep {

void predict_model(Model& model, const Dataset& data, Communicator& world, int64_t chunk_rows,
                   const std::function<void(int64_t, const float*, int64_t)>& sink) {
  const Slice mine = even_slice(data.num_samples, world.rank(), world.size());
  StepContext ctx;  // inference: no dropout, moving statistics, no communication
  for (int64_t done = 0; done < mine.size; done += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, mine.size - done);
    const int64_t first = mine.begin + done;
    const float* out = model.forward(ctx, data.sample(first), rows);
    sink(first, out, rows);
  }
}

EvalTotals evaluate_model(Model& model, const Loss& loss, const Dataset& data, Communicator& world,
                          int64_t chunk_rows) {
  LossTotals totals;
  const int64_t width = model.output_width();
  predict_model(model, data, world, chunk_rows, [&](int64_t first, const float* out, int64_t rows) {
    loss.evaluate(out, rows, width, data.label(first), data.label_width, data.label_kind, 0.0f, nullptr, totals);
  });
  double sums[3] = {totals.loss_sum, totals.correct, 0};
  sums[2] = static_cast<double>(even_slice(data.num_samples, world.rank(), world.size()).size);
  world.allreduce_sum(sums, 3);
  return EvalTotals{sums[0], sums[1], sums[2]};
}

}  // namespace lockstep
