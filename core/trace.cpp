#include "core/trace.h"

#include <cinttypes>
#include <cstdio>

#include "core/output_file.h"

namespace lockstep {
namespace trace_detail {
std::atomic<TraceRecorder*> g_active{nullptr};
}

namespace {

const char* const kCategoryNames[] = {"epoch",     "step",      "data",       "forward",    "backward",  "loss",
                                      "optimizer", "reduction", "wait",       "collective", "validation",
                                      "checkpoint"};
static_assert(sizeof(kCategoryNames) / sizeof(kCategoryNames[0]) == static_cast<size_t>(TraceCategory::kCount),
              "one name per category");

// What a record's number is called in the viewer's argument panel.
const char* number_key(TraceCategory c) {
  switch (c) {
    case TraceCategory::kEpoch:
    case TraceCategory::kValidation: return "epoch";
    case TraceCategory::kStep: return "step";
    case TraceCategory::kForward:
    case TraceCategory::kBackward: return "layer";
    case TraceCategory::kReduction:
    case TraceCategory::kWait: return "bucket";
    default: return "number";
  }
}

// Layer names come from configs: anything may be in them.
std::string json_string(const char* s) {
  std::string out = "\"";
  for (const char* p = s ? s : ""; *p; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Microseconds with the nanoseconds kept: "12.345".
std::string microseconds(int64_t ns) {
  char buf[32];
  const char* sign = ns < 0 ? "-" : "";
  const int64_t a = ns < 0 ? -ns : ns;
  std::snprintf(buf, sizeof buf, "%s%" PRId64 ".%03" PRId64, sign, a / 1000, a % 1000);
  return buf;
}

std::string metadata(int rank, int tid, const char* what, const std::string& args) {
  return "{\"ph\":\"M\",\"pid\":" + std::to_string(rank) + ",\"tid\":" + std::to_string(tid) + ",\"name\":\"" + what +
         "\",\"args\":{" + args + "}}";
}

std::string args_of(const TraceRecord& r) {
  std::string args;
  if (r.number >= 0) args += std::string("\"") + number_key(r.category) + "\":" + std::to_string(r.number);
  if (r.note) args += (args.empty() ? "" : ",") + std::string("\"absorbs\":") + json_string(r.note);
  return args;
}

// A complete event ("X"), or an async span as a begin/end pair ("b"/"e")
// with an id unique over ranks, so merged files keep their pairs apart.
std::string event_json(const TraceRecord& r, int rank, uint64_t id) {
  const std::string common = "\"pid\":" + std::to_string(rank) + ",\"tid\":" +
                             std::to_string(static_cast<int>(r.lane)) + ",\"name\":" + json_string(r.name) +
                             ",\"cat\":\"" + trace_category_name(r.category) + "\"";
  const std::string args = ",\"args\":{" + args_of(r) + "}";
  if (!r.async)
    return "{\"ph\":\"X\"," + common + ",\"ts\":" + microseconds(r.start_ns) + ",\"dur\":" +
           microseconds(r.duration_ns) + args + "}";
  const std::string ident = ",\"id\":" + std::to_string(id);
  return "{\"ph\":\"b\"," + common + ident + ",\"ts\":" + microseconds(r.start_ns) + args + "},\n{\"ph\":\"e\"," +
         common + ident + ",\"ts\":" + microseconds(r.start_ns + r.duration_ns) + "}";
}

}  // namespace

const char* trace_category_name(TraceCategory c) { return kCategoryNames[static_cast<size_t>(c)]; }

void set_active_trace(TraceRecorder* recorder) { trace_detail::g_active.store(recorder, std::memory_order_release); }

TraceRecorder::TraceRecorder(size_t capacity) : records_(capacity) {}

void TraceRecorder::write_json(OutputFile& out, int rank, int ranks) const {
  const std::string r = std::to_string(rank);
  out.write("{\"traceEvents\":[\n");
  out.write(metadata(rank, 0, "process_name", "\"name\":\"rank " + r + "\""));
  out.write(",\n" + metadata(rank, 0, "process_sort_index", "\"sort_index\":" + r));
  const char* lanes[] = {"compute", "reduction", "checkpoint writer"};
  for (int tid = 0; tid < 3; ++tid) {
    out.write(",\n" + metadata(rank, tid, "thread_name", std::string("\"name\":\"") + lanes[tid] + "\""));
    out.write(",\n" + metadata(rank, tid, "thread_sort_index", "\"sort_index\":" + std::to_string(tid)));
  }
  const uint64_t id_base = static_cast<uint64_t>(rank) << 32;
  for (size_t i = 0; i < recorded(); ++i) out.write(",\n" + event_json(records_[i], rank, id_base + i));
  out.write("\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"rank\":" + r + ",\"ranks\":" +
            std::to_string(ranks) + ",\"events\":" + std::to_string(recorded()) + ",\"dropped\":" +
            std::to_string(dropped()) +
            ",\"clock\":\"steady_clock; zero when the ranks left a barrier at the start of training\"}}\n");
}

}  // namespace lockstep
