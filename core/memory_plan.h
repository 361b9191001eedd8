// How many bytes a run needs, worked out from the model's shapes before
// anything is allocated; how many the machine can give it; and the refusal
// (exit status 2) when the first is larger. Without it a model or batch too
// big for the machine fails half-way with "out of memory", or is killed by
// the kernel, after minutes of loading. Arithmetic is checked
// (core/checked_size.h): a size that does not fit in 64 bits is an input
// error too, never a wrapped, small number.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lockstep {

class Model;

// What one layer (or the model as a whole) contributes, in bytes.
struct MemoryPart {
  std::string what;   // "dense_1 (Dense)", or "backward buffers" for the model's own
  std::string field;  // the layer's config path, "model.layers[0]"; "" for the model's own buffers
  uint64_t parameters = 0;       // trainable values and non-trainable state
  uint64_t gradients = 0;
  uint64_t optimizer_state = 0;  // the optimizer's slots for these parameters
  uint64_t activations = 0;      // outputs, caches and scratch for the batch
  uint64_t total() const { return parameters + gradients + optimizer_state + activations; }
  // "112.0 GiB: parameters 37.3 GiB, gradients 37.3 GiB, ..." (non-zero kinds only)
  std::string breakdown() const;
};

struct MemoryPlan {
  int64_t rows = 0;         // batch rows per rank planned for
  int optimizer_slots = 0;  // floats the optimizer keeps per trainable parameter
  uint64_t parameters = 0, gradients = 0, optimizer_state = 0, activations = 0;
  uint64_t total = 0;       // per rank
  std::vector<MemoryPart> parts;  // each layer, then the model's own buffers
  // Bytes that do not depend on the batch: parameters, gradients, slots.
  uint64_t fixed() const { return parameters + gradients + optimizer_state; }
  // The largest part, all kinds counted (for messages).
  const MemoryPart& biggest() const;
};

// The plan for `model` (built, allocated or not: Model::Unallocated) running
// batches of `rows` rows per rank with an optimizer of `optimizer_slots`
// slots (0 when it only evaluates). Counts what Model, its layers
// (Layer::scratch_bytes), ParameterStore, the optimizer and the training
// loop's batch buffers allocate. Errors (sizes past 2^64) name `field`.
MemoryPlan plan_memory(const Model& model, int64_t rows, int optimizer_slots, const std::string& field = "model");

// Memory this process may still take, and where the number comes from.
struct MemoryAvailable {
  uint64_t bytes = 0;
  std::string source;  // e.g. "MemAvailable in /proc/meminfo", "cgroup v2 memory.max of /sys/fs/cgroup/job"
};

// LOCKSTEP_MEMORY_AVAILABLE (bytes, when set: tests, or a user who knows
// better), else memory_available_at("").
std::optional<MemoryAvailable> memory_available();
// The smaller of /proc/meminfo's MemAvailable and the room left under every
// cgroup memory limit of this process (v2 memory.max, v1
// memory.limit_in_bytes; usage minus reclaimable page cache), each path read
// under `root` (unit tests give a fake tree). nullopt when nothing is readable.
std::optional<MemoryAvailable> memory_available_at(const std::string& root);

// Refuses (input error, exit status 2) a run whose `ranks_on_node` ranks
// each needing plan.total do not fit in `available`. WHERE is the config
// field to blame: `batch_field` ("batch_size"; "" when the batch is not the
// user's) when the model alone would fit and its batch does not, else the
// path of the layer with the most parameter bytes; WHAT gives the bytes
// needed and available and the biggest part. `batch` describes the batch
// for the message ("batch_size 64").
void check_memory(const MemoryPlan& plan, const MemoryAvailable& available, int ranks_on_node,
                  const std::string& batch, const std::string& batch_field);

// For one allocation sized by input (a data file, a synthetic data set):
// an input error at `where` when `bytes` exceed what memory_available() says.
void check_allocation(uint64_t bytes, const std::string& where, const std::string& what);

// The lines `trainer summary` prints: each kind, the total, the biggest
// part, what is available and whether the run fits.
std::string memory_summary(const MemoryPlan& plan, const std::optional<MemoryAvailable>& available,
                           int ranks_on_node, const std::string& batch);

// "1.5 GiB (1,610,612,736 bytes)"; small counts "512 bytes".
std::string format_bytes(uint64_t bytes);

}  // namespace lockstep
