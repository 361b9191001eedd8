// Data loading speed: Fashion-MNIST's 60,000 gzip'ed training images (IDX),
// and CSV parsing in MB/s on a generated file of the same shape (784 features
// + a label, as text). Prints medians of several loads; never pass/fail.
//
//   build/bin/bench_data [--repeats N] [--images FILE --labels FILE] [--csv-rows N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "bench/bench_util.h"
#include "core/data/dataset.h"
#include "core/error.h"
#include "train.pb.h"

namespace {

using lockstep::bench::now_seconds;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename Load>
double time_median(int repeats, Load load) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const double t0 = now_seconds();
    load();
    t.push_back(now_seconds() - t0);
  }
  return median(t);
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  long csv_rows = 20000;
  std::string images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
  std::string labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--repeats") repeats = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--images") images = argv[i + 1];
    else if (a == "--labels") labels = argv[i + 1];
    else if (a == "--csv-rows") csv_rows = std::max(1L, std::atol(argv[i + 1]));
    else {
      std::fprintf(stderr, "error: bench_data: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    if (access(images.c_str(), R_OK) == 0) {
      lockstep::DataSpec spec;
      spec.mutable_idx()->set_images(images);
      spec.mutable_idx()->set_labels(labels);
      spec.set_scale(1.0f / 255);
      int64_t n = 0;
      const double s = time_median(repeats, [&] { n = lockstep::load_dataset(spec, "data").num_samples; });
      std::printf("IDX (gzip) %s: %lld samples in %.3f s (median of %d)\n", images.c_str(),
                  static_cast<long long>(n), s, repeats);
    } else {
      std::printf("IDX: %s not found (apt-get install dataset-fashion-mnist): skipped\n", images.c_str());
    }

    // A CSV like Fashion-MNIST as text: header, 784 integer pixels, label.
    char path[] = "/tmp/lockstep_bench_data_XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) throw lockstep::Error("bench_data", "cannot create a temporary file", lockstep::kExitRuntime);
    FILE* f = fdopen(fd, "w");
    for (int c = 0; c < 784; ++c) std::fprintf(f, "p%d,", c);
    std::fprintf(f, "label\n");
    unsigned x = 12345;
    for (long r = 0; r < csv_rows; ++r) {
      for (int c = 0; c < 784; ++c) {
        x = x * 1103515245u + 12345u;
        std::fprintf(f, "%u,", (x >> 16) % 4 == 0 ? (x >> 8) % 256 : 0);  // mostly zeros, like the images
      }
      std::fprintf(f, "%ld\n", r % 10);
    }
    std::fclose(f);
    struct stat st;
    stat(path, &st);
    lockstep::DataSpec spec;
    spec.mutable_csv()->set_path(path);
    int64_t n = 0;
    const double s = time_median(repeats, [&] { n = lockstep::load_dataset(spec, "data").num_samples; });
    std::printf("CSV %lld rows x 785 columns, %.1f MB: %.3f s, %.0f MB/s (median of %d)\n", static_cast<long long>(n),
                st.st_size / 1e6, s, st.st_size / 1e6 / s, repeats);
    unlink(path);
  } catch (const lockstep::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
