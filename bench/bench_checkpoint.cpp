// Checkpoint save and load throughput for a model of a given size, in MB/s,
// median of several repetitions. bench/run_checkpoint.sh compares it with
// what `dd ... conv=fsync` writes on the same disk in the same run.
// "messages_save_*": the same tensors written as whole TensorRecord
// messages (data copied into each, then serialised), alternating with
// write_checkpoint's saves: why its records are framed around the data.
//   bench_checkpoint [--mb 128] [--repeats 5] [--dir DIR]
#include <fcntl.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <unistd.h>
#include <zlib.h>

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

// The file write_checkpoint writes (16 MiB records), each record a whole
// TensorRecord message; no file CRC-32 (so it errs in this way's favour) and
// no rename, the same fsync.
void save_as_messages(const std::string& path, const std::vector<lockstep::TensorRef>& tensors) {
  using google::protobuf::util::SerializeDelimitedToZeroCopyStream;
  constexpr size_t kChunkFloats = size_t{4} << 20;  // as core/checkpoint.cpp
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) std::exit(1);
  {
    google::protobuf::io::FileOutputStream out(fd);
    lockstep::CheckpointHeader header;
    header.set_format_version(lockstep::kCheckpointFormatVersion);
    void* buffer = nullptr;
    int size = 0;
    if (!out.Next(&buffer, &size) || size < 8) std::exit(1);
    std::memcpy(buffer, "LKSTCKPT", 8);
    out.BackUp(size - 8);
    SerializeDelimitedToZeroCopyStream(header, &out);
    lockstep::TensorRecord record;
    for (const lockstep::TensorRef& t : tensors) {
      const size_t n = static_cast<size_t>(lockstep::numel(t.shape));
      for (size_t offset = 0; offset < n; offset += kChunkFloats) {
        const size_t bytes = std::min(kChunkFloats, n - offset) * sizeof(float);
        record.Clear();
        record.set_name(t.name);
        record.set_kind(t.kind);
        for (int64_t d : t.shape) record.add_shape(d);
        record.set_offset(static_cast<int64_t>(offset));
        record.set_data(reinterpret_cast<const char*>(t.data + offset), bytes);
        record.set_crc32(static_cast<uint32_t>(crc32_z(0L, reinterpret_cast<const Bytef*>(t.data + offset), bytes)));
        if (!SerializeDelimitedToZeroCopyStream(record, &out)) std::exit(1);
      }
    }
    if (!out.Flush() || ::fsync(fd) != 0 || !out.Close()) std::exit(1);  // Close() closes fd
  }
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
  std::vector<double> save, load, messages_save;
  for (int r = 0; r < repeats; ++r) {
    auto t = std::chrono::steady_clock::now();
    save_as_messages(path, tensors);
    messages_save.push_back(seconds_since(t));
    t = std::chrono::steady_clock::now();
    lockstep::write_checkpoint(path, lockstep::CheckpointHeader(), tensors);
    save.push_back(seconds_since(t));
    t = std::chrono::steady_clock::now();
    const lockstep::CheckpointContents c = lockstep::read_checkpoint(path);
    load.push_back(seconds_since(t));
    if (c.tensors.size() != tensors.size()) return 1;
  }
  std::remove(path.c_str());
  std::printf("{\"mb\": %.1f, \"save_seconds\": %.4f, \"save_mb_per_s\": %.1f, \"load_seconds\": %.4f, "
              "\"load_mb_per_s\": %.1f, \"messages_save_seconds\": %.4f, \"messages_save_mb_per_s\": %.1f}\n",
              bytes / (1 << 20), median(save), bytes / (1 << 20) / median(save), median(load),
              bytes / (1 << 20) / median(load), median(messages_save), bytes / (1 << 20) / median(messages_save));
  return 0;
}
