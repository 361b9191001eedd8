// Checkpoint save and load throughput for a model of a given size, in MB/s,
// median of several repetitions. bench/run_checkpoint.sh compares it with
// what `dd ... conv=fsync` writes on the same disk in the same run.
//   bench_checkpoint [--mb 128] [--repeats 5] [--dir DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/checkpoint.h"

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  double mb = 128;
  int repeats = 5;
  std::string dir = ".";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--mb")) mb = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
  }
  // Shaped like a wide MLP: a few large kernels and small vectors.
  const int64_t total = static_cast<int64_t>(mb * (1 << 20) / sizeof(float));
  const int64_t per_kernel = total / 4;
  std::vector<std::vector<float>> storage;
  std::vector<lockstep::TensorRef> tensors;
  for (int k = 0; k < 4; ++k) {
    storage.emplace_back(static_cast<size_t>(per_kernel));
    for (size_t i = 0; i < storage.back().size(); ++i) storage.back()[i] = static_cast<float>(i % 997) * 1e-3f;
    tensors.push_back({"dense_" + std::to_string(k + 1) + "/kernel", lockstep::TensorRecord::PARAMETER,
                       {per_kernel / 1024, 1024}, storage.back().data()});
  }
  const double bytes = 4.0 * per_kernel * 4;
  const std::string path = dir + "/bench_ckpt.pb";
  std::vector<double> save, load;
  for (int r = 0; r < repeats; ++r) {
    auto t = std::chrono::steady_clock::now();
    lockstep::write_checkpoint(path, lockstep::CheckpointHeader(), tensors);
    save.push_back(seconds_since(t));
    t = std::chrono::steady_clock::now();
    const lockstep::CheckpointContents c = lockstep::read_checkpoint(path);
    load.push_back(seconds_since(t));
    if (c.tensors.size() != tensors.size()) return 1;
  }
  std::remove(path.c_str());
  std::printf("{\"mb\": %.1f, \"save_seconds\": %.4f, \"save_mb_per_s\": %.1f, \"load_seconds\": %.4f, "
              "\"load_mb_per_s\": %.1f}\n",
              bytes / (1 << 20), median(save), bytes / (1 << 20) / median(save), median(load),
              bytes / (1 << 20) / median(load));
  return 0;
}
