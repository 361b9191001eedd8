// The timeline recorder (core/trace.h) and its file (core/trace_file.h):
// nothing is recorded while tracing is off, events nest and carry their
// names, a full recorder drops and counts, the JSON is well-formed Chrome
// trace with the fields viewers need, the model names every layer, and the
// per-rank file name and path checks.
#include <gtest/gtest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/keras.h"
#include "distributed/local_communicator.h"
#include "core/model.h"
#include "core/output_file.h"
#include "core/trace.h"
#include "core/trace_file.h"
#include "temp_files.h"

namespace lockstep {
namespace {

namespace pb = google::protobuf;
using test_files::temp_dir;

// Makes `recorder` the active one for a scope.
struct Activate {
  explicit Activate(TraceRecorder& r) { set_active_trace(&r); }
  ~Activate() { set_active_trace(nullptr); }
};

pb::Struct parse_json_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  pb::Struct parsed;
  const auto status = pb::util::JsonStringToMessage(text.str(), &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << text.str().substr(0, 400);
  return parsed;
}

TEST(Trace, NothingIsRecordedWhileOff) {
  TraceRecorder recorder(16);
  set_active_trace(nullptr);
  { ScopedTraceEvent event("step", TraceCategory::kStep, 1); }
  EXPECT_EQ(active_trace(), nullptr);
  EXPECT_EQ(recorder.recorded(), 0u);
  EXPECT_EQ(recorder.dropped(), 0u);
}

TEST(Trace, ScopedEventsNestAndKeepTheirFields) {
  TraceRecorder recorder(16);
  recorder.set_origin_now();
  {
    Activate on(recorder);
    ScopedTraceEvent outer("step", TraceCategory::kStep, 7);
    { ScopedTraceEvent inner("dense_1", TraceCategory::kForward, 0, "activation_1"); }
  }
  ASSERT_EQ(recorder.recorded(), 2u);  // inner ends first
  const TraceRecord& inner = recorder.at(0);
  const TraceRecord& outer = recorder.at(1);
  EXPECT_STREQ(inner.name, "dense_1");
  EXPECT_EQ(inner.category, TraceCategory::kForward);
  EXPECT_STREQ(inner.note, "activation_1");
  EXPECT_EQ(outer.number, 7);
  EXPECT_GE(inner.duration_ns, 0);
  EXPECT_GE(inner.start_ns, outer.start_ns);
  EXPECT_LE(inner.start_ns + inner.duration_ns, outer.start_ns + outer.duration_ns);
}

TEST(Trace, AFullRecorderDropsAndCounts) {
  TraceRecorder recorder(3);
  Activate on(recorder);
  for (int i = 0; i < 5; ++i) ScopedTraceEvent event("loss", TraceCategory::kLoss);
  EXPECT_EQ(recorder.recorded(), 3u);
  EXPECT_EQ(recorder.dropped(), 2u);
}

TEST(Trace, JsonIsChromeTraceWithRanksLanesAndArguments) {
  TraceRecorder recorder(8);
  {
    Activate on(recorder);
    { ScopedTraceEvent event("odd \"name\"\n", TraceCategory::kBackward, 2, "flatten_1"); }
    TraceRecord bucket;
    bucket.name = "gradient bucket 0 (dense_1/kernel)";
    bucket.category = TraceCategory::kReduction;
    bucket.lane = TraceLane::kReduction;
    bucket.async = true;
    bucket.number = 0;
    bucket.start_ns = 1500;
    bucket.duration_ns = 2250;
    recorder.record(bucket);
  }
  const std::string path = temp_dir("trace") + "/t.json";
  OutputFile out(path, OutputFile::Mode::kTruncate);
  recorder.write_json(out, 3, 4);
  out.close();

  const pb::Struct trace = parse_json_file(path);
  EXPECT_EQ(trace.fields().at("displayTimeUnit").string_value(), "ms");
  EXPECT_EQ(trace.fields().at("otherData").struct_value().fields().at("ranks").number_value(), 4);
  std::set<std::string> names, phases;
  std::set<std::string> thread_names;
  for (const pb::Value& v : trace.fields().at("traceEvents").list_value().values()) {
    const auto& e = v.struct_value().fields();
    EXPECT_EQ(e.at("pid").number_value(), 3);
    const std::string ph = e.at("ph").string_value();
    phases.insert(ph);
    if (ph == "M" && e.at("name").string_value() == "thread_name")
      thread_names.insert(e.at("args").struct_value().fields().at("name").string_value());
    if (ph == "M" && e.at("name").string_value() == "process_name") {
      EXPECT_EQ(e.at("args").struct_value().fields().at("name").string_value(), "rank 3");
    }
    if (ph == "X") {
      EXPECT_EQ(e.at("name").string_value(), "odd \"name\"\n");
      EXPECT_EQ(e.at("cat").string_value(), "backward");
      EXPECT_GE(e.at("dur").number_value(), 0);
      EXPECT_EQ(e.at("args").struct_value().fields().at("layer").number_value(), 2);
      EXPECT_EQ(e.at("args").struct_value().fields().at("absorbs").string_value(), "flatten_1");
    }
    if (ph == "b") {
      EXPECT_DOUBLE_EQ(e.at("ts").number_value(), 1.5);
    }
    if (ph == "e") {
      EXPECT_DOUBLE_EQ(e.at("ts").number_value(), 3.75);
    }
    if (ph == "b" || ph == "e") {
      EXPECT_EQ(e.at("tid").number_value(), 1);
    }
  }
  EXPECT_EQ(phases, (std::set<std::string>{"M", "X", "b", "e"}));
  EXPECT_EQ(thread_names, (std::set<std::string>{"compute", "reduction", "checkpoint writer"}));
}

TEST(Trace, TheModelNamesEveryLayerForwardAndBackward) {
  keras::Sequential s({6});
  s.add(keras::Dense(4))
      .add(keras::BatchNormalization())
      .add(keras::Activation("relu"))
      .add(keras::Dense(3).activation("softmax"));
  Model model(s.spec(), 1);
  model.reserve(5);
  std::vector<float> x(30, 0.5f);
  TraceRecorder recorder(64);
  {
    Activate on(recorder);
    StepContext ctx;
    ctx.training = true;
    model.forward(ctx, x.data(), 5);
    model.backward(ctx, model.output_grad(), 5, nullptr);
  }
  std::set<std::string> forward, backward, absorbed;
  for (size_t i = 0; i < recorder.recorded(); ++i) {
    const TraceRecord& r = recorder.at(i);
    if (r.category == TraceCategory::kForward) forward.insert(r.name);
    if (r.category == TraceCategory::kBackward) backward.insert(r.name);
    if (r.note) absorbed.insert(r.note);
  }
  // The relu runs inside the BatchNormalization's passes, named as absorbed.
  const std::set<std::string> own_pass{"dense_1", "batch_normalization_1", "dense_2"};
  EXPECT_EQ(forward, own_pass);
  EXPECT_EQ(backward, own_pass);
  EXPECT_EQ(absorbed, std::set<std::string>{"activation_1"});
}

TEST(TraceFile, OneFilePerRankWithTheRankBeforeTheExtension) {
  EXPECT_EQ(trace_path_for_rank("trace.json", 0, 1), "trace.json");
  EXPECT_EQ(trace_path_for_rank("trace.json", 1, 2), "trace.rank1.json");
  EXPECT_EQ(trace_path_for_rank("out.d/trace", 0, 2), "out.d/trace.rank0");
  EXPECT_EQ(trace_path_for_rank("dir/.trace", 3, 4), "dir/.trace.rank3");
}

TEST(TraceFile, AFolderOrAMissingFolderIsAnInputErrorBeforeTraining) {
  const std::string dir = temp_dir("trace");
  try {
    TraceSession session(dir, 4, 0, 1, "--trace");
    FAIL() << "a folder was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_EQ(e.where(), "--trace");
    EXPECT_NE(e.message().find("is a directory"), std::string::npos) << e.message();
  }
  try {
    TraceSession session(dir + "/no/t.json", 4, 0, 1, "--trace");
    FAIL() << "a missing folder was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_NE(e.message().find("does not exist"), std::string::npos) << e.message();
  }
}

TEST(TraceFile, ASessionRecordsFromStartAndWritesAtFinish) {
  const std::string path = temp_dir("trace") + "/t.json";
  LocalCommunicator world;
  TraceSession session(path, 16, 0, 1, "--trace");
  { ScopedTraceEvent before("loss", TraceCategory::kLoss); }  // not started: off
  session.start(world);
  { ScopedTraceEvent during("optimizer", TraceCategory::kOptimizer); }
  session.finish();
  EXPECT_EQ(active_trace(), nullptr);
  { ScopedTraceEvent after("loss", TraceCategory::kLoss); }
  EXPECT_EQ(session.recorder().recorded(), 1u);
  const pb::Struct trace = parse_json_file(path);
  int complete = 0;
  for (const pb::Value& v : trace.fields().at("traceEvents").list_value().values())
    if (v.struct_value().fields().at("ph").string_value() == "X") {
      ++complete;
      EXPECT_EQ(v.struct_value().fields().at("name").string_value(), "optimizer");
    }
  EXPECT_EQ(complete, 1);
}

// A session ended by an error before finish() leaves a valid file without
// events: their names may point into objects already destroyed.
TEST(TraceFile, WithoutFinishTheFileHoldsNoEvents) {
  const std::string path = temp_dir("trace") + "/t.json";
  LocalCommunicator world;
  {
    TraceSession session(path, 16, 0, 1, "--trace");
    session.start(world);
    std::string name = "dense_1";
    { ScopedTraceEvent event(name.c_str(), TraceCategory::kForward, 0); }
  }
  EXPECT_EQ(active_trace(), nullptr);
  const pb::Struct trace = parse_json_file(path);
  EXPECT_EQ(trace.fields().at("otherData").struct_value().fields().at("events").number_value(), 0);
  for (const pb::Value& v : trace.fields().at("traceEvents").list_value().values())
    EXPECT_EQ(v.struct_value().fields().at("ph").string_value(), "M");
}

}  // namespace
}  // namespace lockstep
