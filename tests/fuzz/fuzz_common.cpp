#include "tests/fuzz/fuzz_common.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/loss.h"
#include "core/memory_plan.h"
#include "core/optim/optimizer.h"
#include "core/parameters.h"
#include "core/summary.h"

namespace lockstep::fuzz {

std::unique_ptr<Model> build_model(const ModelSpec& spec, uint64_t seed, int64_t rows, int slots,
                                   bool sync_batch_norm) {
  auto model = std::make_unique<Model>(spec, Model::Unallocated{}, "model");
  const MemoryPlan plan = plan_memory(*model, rows, slots, "model");
  const MemoryAvailable gib{uint64_t{1} << 30, "the fuzz target"};
  (void)memory_summary(plan, gib, 2, "batch_size " + std::to_string(rows));
  (void)model_summary(*model);
  (void)batch_statistics_summary(*model, sync_batch_norm, 2);
  try {
    check_memory(plan, gib, 2, "batch_size " + std::to_string(rows), "batch_size");
  } catch (const Error&) {
  }
  size_t total = 0;
  for (const ParameterInfo& p : model->parameters().entries()) {
    if (p.size > kMaxParameters) return nullptr;
    total += p.size;
  }
  if (total > kMaxParameters) return nullptr;
  model->allocate(seed);
  return model;
}

void build_from_config(const ConfigFile& file) {
  const TrainConfig& config = file.config();
  // launch/cli/train_command.cpp, before the data: the optimizer's slots
  // size the memory plan, then the model, the loss and the schedule.
  try {
    auto optimizer = make_optimizer(config.optimizer(), "optimizer");
    const int slots = static_cast<int>(optimizer->slot_names().size());
    if (config.has_model())
      (void)build_model(config.model(), config.seed(), std::max<int64_t>(1, config.batch_size()), slots,
                        config.distributed().sync_batch_norm());
    Loss loss(config.loss(), "loss");
    validate_schedule(config.lr_schedule(), "lr_schedule");
    for (int64_t step : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1} << 40, INT64_MAX})
      (void)scheduled_learning_rate(config.lr_schedule(), 0.01f, step);
  } catch (const Error& e) {
    (void)file.locate(e.where());
  }
}

void check_and_build(const ConfigFile& file) {
  try {
    validate_config(file.config());
  } catch (const Error& e) {
    (void)file.locate(e.where());
    return;
  }
  (void)config_hash(file.config());
  (void)to_text(file.config());
  build_from_config(file);
}

}  // namespace lockstep::fuzz
