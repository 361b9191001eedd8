// Checkpoint files: read_checkpoint, then (as `trainer evaluate --checkpoint`
// and `trainer export` do) the checkpoint's model is built and its tensors
// restored into it.
//
// Checksums stop almost every mutation at the first damaged record, so each
// input is read twice: as it is, and "repaired" - its records re-framed with
// their CRC-32s and the footer recomputed, as if lockstep had written them.
// The second read reaches the code behind the checksums (shapes, offsets,
// chunks, restoring).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "checkpoint.pb.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/model.h"
#include "tests/fuzz/fuzz_common.h"

using namespace lockstep;

namespace {

bool read_varint(const uint8_t* data, size_t size, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < size; shift += 7) {
    const uint8_t b = data[pos++];
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

void append_message(std::string& out, const google::protobuf::Message& m) {
  std::string bytes = m.SerializeAsString();
  for (uint64_t v = bytes.size(); ; v >>= 7) {
    out.push_back(static_cast<char>((v & 0x7F) | (v >= 0x80 ? 0x80 : 0)));
    if (v < 0x80) break;
  }
  out += bytes;
}

// The input with correct checksums, or "" when its framing does not parse.
std::string repair(const uint8_t* data, size_t size) {
  if (size < 8 || std::memcmp(data, "LKSTCKPT", 8) != 0) return "";
  size_t pos = 8;
  uint64_t len;
  CheckpointHeader header;
  if (!read_varint(data, size, pos, len) || len > size - pos || !header.ParseFromArray(data + pos, static_cast<int>(len)))
    return "";
  pos += len;
  std::string out(reinterpret_cast<const char*>(data), 8);
  append_message(out, header);
  TensorRecord record;
  for (int64_t i = 0; i < header.record_count() && i < 4096; ++i) {
    if (!read_varint(data, size, pos, len) || len > size - pos || !record.ParseFromArray(data + pos, static_cast<int>(len)))
      return "";
    pos += len;
    record.set_crc32(static_cast<uint32_t>(
        crc32_z(0L, reinterpret_cast<const Bytef*>(record.data().data()), record.data().size())));
    append_message(out, record);
  }
  CheckpointFooter footer;
  footer.set_file_crc32(static_cast<uint32_t>(crc32_z(0L, reinterpret_cast<const Bytef*>(out.data()), out.size())));
  footer.set_record_count(header.record_count());
  append_message(out, footer);
  return out;
}

void read_and_restore(const std::string& path) {
  try {
    const CheckpointContents ckpt = read_checkpoint(path);
    std::unique_ptr<Model> model = fuzz::build_model(ckpt.header.model(), ckpt.header.seed(), 1, 0, true);
    if (model) restore_tensors(ckpt, *model, nullptr, path);
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::TempDir& dir = fuzz::TempDir::get();
  read_and_restore(dir.write("ckpt.pb", data, size));
  const std::string repaired = repair(data, size);
  if (!repaired.empty() && (repaired.size() != size || std::memcmp(repaired.data(), data, size) != 0))
    read_and_restore(dir.write("repaired.pb", repaired.data(), repaired.size()));
  return 0;
}
