// Synthetic Gaussian clusters: a data set that needs no files, for examples,
// tests and benchmarks.
//
// Every class has `centers_per_class` centres drawn ~N(0, 1) per feature;
// sample i belongs to class i % classes (so any contiguous slice, such as a
// validation_split tail, is balanced), picks one of its class's centres and
// adds noise * N(0, 1). Values come from the project's counter-based
// generator keyed by (seed, sample index): the data set is the same on every
// platform and rank, and a shard generates only its own samples.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/checked_size.h"
#include "core/data/readers.h"
#include "core/error.h"
#include "core/memory_plan.h"
#include "core/random.h"
#include "train.pb.h"

namespace lockstep {
namespace data {
namespace {

void require(bool ok, const std::string& field, const std::string& what) {
  if (!ok) throw_input_error(field, what);
}

// N(0, 1) rounded to float. Rounding before use keeps the products below
// exact in double, so the result does not depend on whether the compiler
// fuses multiply and add.
float normal(CounterRng& rng) { return static_cast<float>(rng.next_normal()); }

}  // namespace

Dataset read_synthetic(const SyntheticData& spec, const std::string& field, const Window& window) {
  const std::string at = field + ".synthetic.";
  require(spec.samples() >= 1, at + "samples", "must be >= 1, got " + std::to_string(spec.samples()));
  require(spec.features() >= 1, at + "features", "must be >= 1, got " + std::to_string(spec.features()));
  require(spec.classes() >= 2, at + "classes", "must be >= 2, got " + std::to_string(spec.classes()));
  require(spec.centers_per_class() >= 1, at + "centers_per_class",
          "must be >= 1, got " + std::to_string(spec.centers_per_class()));
  require(std::isfinite(spec.noise()) && spec.noise() >= 0, at + "noise",
          "must be a finite number >= 0, got " + std::to_string(spec.noise()));
  // Limits that keep the sizes below far from overflow; no real use comes near.
  const int64_t features = spec.features();
  const int64_t num_centres = int64_t{spec.classes()} * spec.centers_per_class();
  require(num_centres * features <= (int64_t{1} << 28), at + "centers_per_class",
          "classes x centers_per_class x features is too large (at most 2^28 values)");
  require(window.limited(spec.samples()) <= (int64_t{1} << 40) / features, at + "samples",
          "samples x features is too large (at most 2^40 values)");

  // Centres first, from their own key, so they do not depend on which
  // samples a shard generates.
  std::vector<float> centres(static_cast<size_t>(num_centres * features));
  CounterRng centre_rng(hash_combine(spec.seed(), 0));
  for (float& c : centres) c = normal(centre_rng);

  const auto [begin, end] = window.range(spec.samples());
  // 2^40 values would be 4 TiB: refused up front when this machine cannot
  // hold this part, not by "out of memory" half-way.
  check_allocation(rows_bytes(end - begin, features + 1, sizeof(float), at + "samples"), at + "samples",
                   std::to_string(end - begin) + " samples of " + std::to_string(features) + " features");
  Dataset d;
  d.source = "synthetic";
  d.sample_shape = {features};
  d.num_samples = end - begin;
  d.label_kind = LabelKind::kClassIndex;
  d.label_width = 1;
  d.num_classes = spec.classes();
  d.features.resize(static_cast<size_t>(d.num_samples * features));
  d.labels.resize(static_cast<size_t>(d.num_samples));

  const double noise = spec.noise();
  for (int64_t i = begin; i < end; ++i) {
    CounterRng rng(hash_combine(spec.seed(), static_cast<uint64_t>(i) + 1));
    const int64_t cls = i % spec.classes();
    const int64_t centre = cls * spec.centers_per_class() +
                           static_cast<int64_t>(rng.next_below(static_cast<uint64_t>(spec.centers_per_class())));
    const float* c = &centres[static_cast<size_t>(centre * features)];
    float* x = &d.features[static_cast<size_t>((i - begin) * features)];
    for (int64_t j = 0; j < features; ++j) x[j] = static_cast<float>(c[j] + noise * normal(rng));
    d.labels[static_cast<size_t>(i - begin)] = static_cast<float>(cls);
  }
  return d;
}

}  // namespace data
}  // namespace lockstep
