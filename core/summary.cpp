#include "core/summary.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/model.h"

namespace lockstep {

std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string batch_statistics_summary(const Model& model, bool sync_by_default, int ranks) {
  std::map<int, std::string> layers_by_group;  // 1 = local, 0 = all ranks, k = groups of k
  for (size_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    if (!layer.normalizes_over_batch()) continue;
    int k = layer.communication_group_size(sync_by_default);
    if (k != 1 && ranks > 0 && (k == 0 || k >= ranks)) k = 0;
    std::string& names = layers_by_group[k];
    names += (names.empty() ? "" : ", ") + layer.name();
  }
  const std::string all = ranks > 0 ? "all " + std::to_string(ranks) + " rank" + (ranks == 1 ? "" : "s")
                                    : "all ranks of the job";
  std::string out;
  for (const auto& [k, names] : layers_by_group) {
    if (k == 0) out += "BatchNormalization synchronized over " + all + ": " + names + "\n";
    else if (k == 1)
      out += "BatchNormalization with local statistics (each rank its own share; moving statistics merged over "
             "ranks before validation and saving): " + names + "\n";
    else out += "BatchNormalization synchronized within groups of " + std::to_string(k) + " ranks: " + names + "\n";
  }
  return out;
}

std::string model_summary(const Model& model) {
  // Keras wraps long names into a 28-character column; a column as wide as
  // the longest "name (Type)" keeps every layer on one line.
  size_t label_width = 44;
  for (size_t i = 0; i < model.layer_count(); ++i)
    label_width = std::max(label_width, model.layer(i).name().size() + std::strlen(model.layer(i).type_name()) + 3);
  const std::string row = " %-" + std::to_string(label_width) + "s %-22s %-12s\n";
  const std::string rule(label_width + 36, '_'), double_rule(label_width + 36, '=');
  std::string out = "Model: \"" + model.name() + "\"\n" + rule + "\n";
  char line[256];
  std::snprintf(line, sizeof line, row.c_str(), "Layer (type)", "Output Shape", "Param #");
  out += line + double_rule + "\n";
  const ParameterStore& params = model.parameters();
  int64_t trainable = 0, frozen = 0;
  for (size_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    int64_t count = 0;
    for (const ParameterInfo& p : params.entries())
      if (p.name.compare(0, layer.name().size() + 1, layer.name() + "/") == 0) {
        count += static_cast<int64_t>(p.size);
        (p.trainable ? trainable : frozen) += static_cast<int64_t>(p.size);
      }
    const std::string label = layer.name() + " (" + layer.type_name() + ")";
    std::snprintf(line, sizeof line, row.c_str(), label.c_str(), keras_shape(layer.output_shape()).c_str(),
                  std::to_string(count).c_str());
    out += line;
    if (i + 1 < model.layer_count()) out += "\n";
  }
  out += double_rule + "\n";
  out += "Total params: " + with_thousands(trainable + frozen) + "\n";
  out += "Trainable params: " + with_thousands(trainable) + "\n";
  out += "Non-trainable params: " + with_thousands(frozen) + "\n";
  out += rule + "\n";
  return out;
}

}  // namespace lockstep
