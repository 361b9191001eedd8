// Private to the optimizers (core/optim/*.cpp): the state every optimizer shares (named
// slots, iteration count) and hyper-parameter checks.
//
// The update loops are in core/kernels/variant.inc (one copy per ISA path,
// the same bits on every path: see core/kernels/kernels.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/kernels/kernels.h"
#include "core/optim/optimizer.h"
#include "core/parallel.h"

namespace lockstep {

class Sgd;
class Adam;
class AdamW;
class RmsProp;

namespace detail {

// Slots are plain vectors with the arena's layout, kept in declaration order
// so slot_names() lists exactly the slots that exist.
class SlottedOptimizer : public Optimizer {
 public:
  void reserve(size_t count) override;
  void step(float* params, const float* grads, size_t count, float lr) final {
    begin_step(count, lr);
    kernels::table();  // chosen here, not first inside the parallel region (it may throw)
    // Disjoint ranges, any order: the same bits as one update() (tested).
    parallel_ranges(static_cast<int64_t>(count), 64, [&](int64_t begin, int64_t end) {
      update(static_cast<size_t>(begin), static_cast<size_t>(end - begin), params + begin, grads + begin);
    });
    end_step();
  }
  void end_step() final { ++iterations_; }
  int64_t iterations() const override { return iterations_; }
  void set_iterations(int64_t iterations) override;
  std::vector<std::string> slot_names() const override { return names_; }
  std::vector<float>& slot(const std::string& name) override;

 protected:
  explicit SlottedOptimizer(std::vector<std::string> names) : names_(std::move(names)) {}
  // Throws a runtime error unless reserve(count) was called and every slot
  // still holds `count` values (a checkpoint loader may have replaced them).
  void check_step(size_t count) const;
  float* slot_data(size_t index) { return slots_[index].data(); }

  int64_t iterations_ = 0;

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<float>> slots_;
  size_t reserved_ = 0;
  bool is_reserved_ = false;
};

// Hyper-parameter checks; each throws an input error naming `field`.
void check_learning_rate(float value, const std::string& field);  // > 0, finite
void check_positive(float value, const std::string& field);       // > 0, finite
void check_non_negative(float value, const std::string& field);   // >= 0, finite
void check_fraction(float value, const std::string& field);       // in [0, 1)

// One factory per kind; `field` is the kind's path ("optimizer.adam").
std::unique_ptr<Optimizer> make_sgd(const Sgd& spec, const std::string& field);
std::unique_ptr<Optimizer> make_adam(const Adam& spec, const std::string& field);
std::unique_ptr<Optimizer> make_adamw(const AdamW& spec, const std::string& field);
std::unique_ptr<Optimizer> make_rmsprop(const RmsProp& spec, const std::string& field);

}  // namespace detail
}  // namespace lockstep
