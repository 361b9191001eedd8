#include "core/memory_plan.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/checked_size.h"
#include "core/error.h"
#include "core/model.h"

namespace lockstep {
namespace {

std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "37.3 GiB", "512 bytes"
std::string short_bytes(uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (v >= 1024.0 && unit < 5) v /= 1024.0, ++unit;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

// The parameters, gradients and optimizer slots of one layer's tensors.
void add_parameters(MemoryPart& part, const ParameterStore& store, const std::string& layer, int slots) {
  const std::string prefix = layer + "/";
  for (const ParameterInfo& p : store.entries()) {
    if (p.name.compare(0, prefix.size(), prefix) != 0) continue;
    const uint64_t bytes = mul_bytes(p.size, sizeof(float), p.name);
    part.parameters = add_bytes(part.parameters, bytes, p.name);
    if (!p.trainable) continue;
    part.gradients = add_bytes(part.gradients, bytes, p.name);
    part.optimizer_state = add_bytes(part.optimizer_state, mul_bytes(bytes, static_cast<uint64_t>(slots), p.name), p.name);
  }
}

// Model::buffer_bytes names the layer whose buffer is too big; the plan's
// errors name its config path, as the layers' own do.
Model::BufferBytes located_buffer_bytes(const Model& model, int64_t rows, const std::string& field) {
  try {
    return model.buffer_bytes(rows);
  } catch (const Error& e) {
    for (size_t i = 0; i < model.layer_count(); ++i) {
      const Layer& l = model.layer(i);
      if (l.name() == e.where())
        throw Error(field + ".layers[" + std::to_string(i) + "]",
                    l.name() + " (" + l.type_name() + "): " + e.message() + " for " + std::to_string(rows) + " rows",
                    e.exit_code());
    }
    throw Error(field, e.message() + " for " + std::to_string(rows) + " rows", e.exit_code());
  }
}

}  // namespace

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  return short_bytes(bytes) + " (" + grouped(bytes) + " bytes)";
}

std::string MemoryPart::breakdown() const {
  std::string s = short_bytes(total());
  const std::pair<const char*, uint64_t> kinds[] = {{"parameters", parameters},
                                                     {"gradients", gradients},
                                                     {"optimizer state", optimizer_state},
                                                     {"activations", activations}};
  const char* sep = ": ";
  for (const auto& [name, bytes] : kinds) {
    if (bytes == 0) continue;
    s += sep + std::string(name) + " " + short_bytes(bytes);
    sep = ", ";
  }
  return s;
}

const MemoryPart& MemoryPlan::biggest() const {
  static const MemoryPart kNone;
  if (parts.empty()) return kNone;
  return *std::max_element(parts.begin(), parts.end(),
                           [](const MemoryPart& a, const MemoryPart& b) { return a.total() < b.total(); });
}


MemoryPlan plan_memory(const Model& model, int64_t rows, int optimizer_slots, const std::string& field) {
  if (rows < 1) throw_input_error(field, "a batch needs at least 1 row, got " + std::to_string(rows));
  MemoryPlan plan;
  plan.rows = rows;
  plan.optimizer_slots = optimizer_slots;
  const Model::BufferBytes buffers = located_buffer_bytes(model, rows, field);
  for (size_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    MemoryPart part;
    part.what = layer.name() + " (" + layer.type_name() + ")";
    part.field = field + ".layers[" + std::to_string(i) + "]";
    try {
      add_parameters(part, model.parameters(), layer.name(), optimizer_slots);
      part.activations = add_bytes(buffers.outputs[i], layer.scratch_bytes(rows), layer.name());
      // total() adds unchecked: make sure it cannot wrap.
      (void)add_bytes(add_bytes(part.parameters, part.gradients, layer.name()),
                      add_bytes(part.optimizer_state, part.activations, layer.name()), layer.name());
    } catch (const Error& e) {
      throw Error(part.field, part.what + ": " + e.message() + " for " + std::to_string(rows) + " rows",
                  e.exit_code());
    }
    plan.parts.push_back(part);
  }
  MemoryPart backward{"the backward pass's gradient buffers", "", 0, 0, 0, buffers.backward};
  // The training loop's batch: inputs, and labels at most as wide as the output.
  MemoryPart batch{"the input batch", "", 0, 0, 0,
                   rows_bytes(rows, checked_mul(2, std::max(model.input_width(), model.output_width()), field, "width"),
                              sizeof(float), field)};
  plan.parts.push_back(backward);
  plan.parts.push_back(batch);
  for (const MemoryPart& p : plan.parts) {
    plan.parameters = add_bytes(plan.parameters, p.parameters, field);
    plan.gradients = add_bytes(plan.gradients, p.gradients, field);
    plan.optimizer_state = add_bytes(plan.optimizer_state, p.optimizer_state, field);
    plan.activations = add_bytes(plan.activations, p.activations, field);
  }
  plan.total = add_bytes(add_bytes(plan.parameters, plan.gradients, field),
                         add_bytes(plan.optimizer_state, plan.activations, field), field);
  return plan;
}

void check_memory(const MemoryPlan& plan, const MemoryAvailable& available, int ranks_on_node,
                  const std::string& batch, const std::string& batch_field) {
  const int ranks = std::max(1, ranks_on_node);
  const uint64_t need = mul_bytes(plan.total, static_cast<uint64_t>(ranks), "model");
  if (need <= available.bytes) return;
  const MemoryPart& big = plan.biggest();
  // The model alone fits: the batch is what is too big. Otherwise blame the
  // layer whose parameters weigh most.
  std::string where = "model";
  if (plan.fixed() <= available.bytes / static_cast<uint64_t>(ranks) && !batch_field.empty()) {
    where = batch_field;
  } else {
    uint64_t heaviest = 0;
    for (const MemoryPart& p : plan.parts)
      if (!p.field.empty() && p.parameters + p.gradients + p.optimizer_state > heaviest)
        heaviest = p.parameters + p.gradients + p.optimizer_state, where = p.field;
  }
  std::string what = "the run needs " + format_bytes(plan.total) + " per rank";
  if (ranks > 1) what += " (" + short_bytes(need) + " for the " + std::to_string(ranks) + " ranks on this node)";
  what += " for " + batch + " (" + std::to_string(plan.rows) + " rows per rank), but " +
          format_bytes(available.bytes) + " are available (" + available.source + "); the biggest part is " +
          big.what + ", " + big.breakdown();
  throw_input_error(where, what);
}

void check_allocation(uint64_t bytes, const std::string& where, const std::string& what) {
  const std::optional<MemoryAvailable> available = memory_available();
  if (!available || bytes <= available->bytes) return;
  throw_input_error(where, what + " needs " + format_bytes(bytes) + " but " + format_bytes(available->bytes) +
                               " are available (" + available->source + ")");
}

std::string memory_summary(const MemoryPlan& plan, const std::optional<MemoryAvailable>& available,
                           int ranks_on_node, const std::string& batch) {
  std::string out = "Memory per rank for " + batch + " (" + std::to_string(plan.rows) + " rows per rank), float32:\n";
  auto line = [&out](const std::string& label, const std::string& value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %-18s", (label + ":").c_str());
    out += buf + value + "\n";
  };
  line("parameters", format_bytes(plan.parameters));
  line("gradients", format_bytes(plan.gradients));
  line("optimizer state", format_bytes(plan.optimizer_state) + " (" + std::to_string(plan.optimizer_slots) +
                              " slot" + (plan.optimizer_slots == 1 ? "" : "s") + " per trainable parameter)");
  line("activations", format_bytes(plan.activations) + " (layer outputs and caches, backward buffers, input batch)");
  line("total", format_bytes(plan.total));
  line("biggest part", plan.biggest().what + ", " + plan.biggest().breakdown());
  if (!available) {
    line("available", "unknown (no /proc/meminfo or cgroup limit readable)");
    return out;
  }
  const int ranks = std::max(1, ranks_on_node);
  const bool fits = plan.total <= available->bytes / static_cast<uint64_t>(ranks);
  line("available", format_bytes(available->bytes) + " (" + available->source + ")" +
                        (ranks > 1 ? " for " + std::to_string(ranks) + " ranks on this node" : "") +
                        (fits ? ": fits" : ": does not fit, `trainer train` would refuse this run"));
  return out;
}

}  // namespace lockstep
