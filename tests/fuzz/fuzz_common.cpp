#include "tests/fuzz/fuzz_common.h"

#include <cstdint>
#include <map>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/layers/layer_factory.h"
#include "core/loss.h"
#include "core/optim/optimizer.h"
#include "core/parameters.h"
#include "core/summary.h"

namespace lockstep::fuzz {

bool model_fits(const ModelSpec& spec) {
  Shape shape;
  for (int d : spec.input_shape()) shape.push_back(d);
  for (int64_t d : shape)
    if (d <= 0) return true;  // Model's own check
  ParameterStore store;
  std::map<std::string, int> counts;
  try {
    for (int i = 0; i < spec.layers_size(); ++i) {
      const LayerSpec& ls = spec.layers(i);
      const std::string where = "model.layers[" + std::to_string(i) + "]";
      const std::string prefix = layer_name_prefix(ls, where);
      const std::string name = ls.has_name() ? ls.name() : prefix + "_" + std::to_string(++counts[prefix]);
      shape = make_layer(ls, name, where)->build(shape, store);
    }
  } catch (const Error&) {
    return true;
  }
  size_t total = 0;
  for (const ParameterInfo& p : store.entries()) {
    if (p.size > kMaxParameters) return false;
    total += p.size;
  }
  return total <= kMaxParameters;
}

void build_model(const ConfigFile& file) {
  const TrainConfig& config = file.config();
  // What `trainer train` builds from the config before it reads data
  // (launch/cli/train_command.cpp), each error located as it does.
  try {
    if (config.has_model() && model_fits(config.model())) {
      Model model(config.model(), config.seed());
      (void)model_summary(model);
      (void)batch_statistics_summary(model, config.distributed().sync_batch_norm(), 2);
    }
    Loss loss(config.loss(), "loss");
    auto optimizer = make_optimizer(config.optimizer(), "optimizer");
    validate_schedule(config.lr_schedule(), "lr_schedule");
    for (int64_t step : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1} << 40, INT64_MAX})
      (void)scheduled_learning_rate(config.lr_schedule(), 0.01f, step);
  } catch (const Error& e) {
    (void)file.locate(e.where());
  }
}

}  // namespace lockstep::fuzz
