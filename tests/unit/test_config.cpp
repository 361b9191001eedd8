// Training configs (core/config.h): .pbtxt and JSON loading with file:line:col
// errors, --set overrides by dotted path, locating fields in the file,
// validation and the config hash ranks compare.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "temp_files.h"

namespace lockstep {
namespace {

// Line numbers matter: locate() is tested against them.
const char* kConfig =
    "# A small run\n"                                      // 1
    "model {\n"                                            // 2
    "  input_shape: 14\n"                                  // 3
    "  layers { dense { units: 8 } }\n"                    // 4
    "  layers { batch_normalization {} }\n"                // 5
    "  layers {\n"                                         // 6
    "    dropout {\n"                                      // 7
    "      rate: 0.5\n"                                    // 8
    "    }\n"                                              // 9
    "  }\n"                                                // 10
    "  layers { dropout { rate: 0.1 } }\n"                 // 11
    "  layers { dense { units: 2 activation: \"softmax\" } }\n"  // 12
    "}\n"                                                  // 13
    "data { synthetic { samples: 100 features: 14 } }\n"   // 14
    "optimizer { adam { learning_rate: 0.01 } }\n"         // 15
    "epochs: 3\n"                                          // 16
    "batch_size: 16\n";                                    // 17

class ConfigFileTest : public ::testing::Test {
 protected:
  ConfigFile load_good() { return ConfigFile::load(good_); }
  test_files::TempDir dir_{"config"};
  std::string good_ = dir_.write("run.pbtxt", kConfig);
};

template <typename F>
Error expect_input_error(F&& f, const std::string& where, const std::vector<std::string>& what_parts) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput) << e.what();
    EXPECT_EQ(e.where(), where) << e.what();
    for (const auto& part : what_parts)
      EXPECT_NE(e.message().find(part), std::string::npos) << "message: " << e.message() << "\nwanted: " << part;
    return e;
  }
  ADD_FAILURE() << "no error; expected one at " << where;
  return Error("", "", 0);
}

TEST_F(ConfigFileTest, TextFormatParses) {
  const ConfigFile c = load_good();
  EXPECT_EQ(c.path(), good_);
  const TrainConfig& t = c.config();
  ASSERT_EQ(t.model().layers_size(), 5);
  EXPECT_EQ(t.model().input_shape(0), 14);
  EXPECT_EQ(t.model().layers(0).dense().units(), 8);
  EXPECT_FLOAT_EQ(t.model().layers(2).dropout().rate(), 0.5f);
  EXPECT_EQ(t.model().layers(4).dense().activation(), "softmax");
  EXPECT_EQ(t.data().synthetic().samples(), 100);
  EXPECT_FLOAT_EQ(t.optimizer().adam().learning_rate(), 0.01f);
  EXPECT_EQ(t.epochs(), 3);
  EXPECT_EQ(t.batch_size(), 16);
  EXPECT_EQ(t.loss(), "sparse_categorical_crossentropy");  // schema default
  EXPECT_NO_THROW(validate_config(t));
}

TEST_F(ConfigFileTest, SyntaxErrorNamesFileLineAndColumn) {
  const std::string path = dir_.write("bad.pbtxt",
                                      "model {\n"
                                      "  input_shape: 14\n"
                                      "  layers { dense { units: } }\n"
                                      "}\n");
  const Error e = expect_input_error([&] { ConfigFile::load(path); }, path + ":3:27", {});
  EXPECT_FALSE(e.message().empty());
}

TEST_F(ConfigFileTest, UnknownFieldInALayerListsTheKnownOnes) {
  const std::string path = dir_.write("typo.pbtxt",
                                      "model {\n"
                                      "  input_shape: 14\n"
                                      "  layers { dense { unitz: 3 } }\n"
                                      "}\n");
  try {
    ConfigFile::load(path);
    ADD_FAILURE() << "typo accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_EQ(e.where().rfind(path + ":3:", 0), 0u) << e.where();
    EXPECT_NE(e.message().find("unitz"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("known:"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("units"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("kernel_initializer"), std::string::npos) << e.message();
  }
}

TEST_F(ConfigFileTest, MissingFileIsAnInputError) {
  const std::string path = good_ + ".missing";
  expect_input_error([&] { ConfigFile::load(path); }, path, {"cannot open config"});
}

TEST_F(ConfigFileTest, JsonParses) {
  const std::string path = dir_.write("run.json", R"({
    "model": {"inputShape": [14], "layers": [{"dense": {"units": 4, "activation": "relu"}},
                                             {"dropout": {"rate": 0.25}},
                                             {"dense": {"units": 2}}]},
    "data": {"synthetic": {"samples": 50}},
    "loss": "categorical_crossentropy",
    "epochs": 4,
    "batch_size": 8
  })");
  const ConfigFile c = ConfigFile::load(path);
  const TrainConfig& t = c.config();
  ASSERT_EQ(t.model().layers_size(), 3);
  EXPECT_EQ(t.model().input_shape(0), 14);
  EXPECT_EQ(t.model().layers(0).dense().activation(), "relu");
  EXPECT_FLOAT_EQ(t.model().layers(1).dropout().rate(), 0.25f);
  EXPECT_EQ(t.data().synthetic().samples(), 50);
  EXPECT_EQ(t.loss(), "categorical_crossentropy");
  EXPECT_EQ(t.epochs(), 4);
  EXPECT_EQ(t.batch_size(), 8);

  const std::string bad = dir_.write("bad.json", R"({"epochs": "many"})");
  expect_input_error([&] { ConfigFile::load(bad); }, bad + ":1:2", {"invalid JSON config", "(epochs)", "many"});
}

TEST_F(ConfigFileTest, OverridesByDottedPath) {
  ConfigFile c = load_good();
  c.apply_override("epochs=5");
  EXPECT_EQ(c.config().epochs(), 5);
  c.apply_override("optimizer.sgd.learning_rate=0.5");  // switches the oneof to sgd
  EXPECT_TRUE(c.config().optimizer().has_sgd());
  EXPECT_FALSE(c.config().optimizer().has_adam());
  EXPECT_FLOAT_EQ(c.config().optimizer().sgd().learning_rate(), 0.5f);
  c.apply_override("model.layers[3].dropout.rate=0.25");
  EXPECT_FLOAT_EQ(c.config().model().layers(3).dropout().rate(), 0.25f);
  c.apply_override("model.layers.3.dropout.rate=0.3");  // the same element, dotted index
  EXPECT_FLOAT_EQ(c.config().model().layers(3).dropout().rate(), 0.3f);
  EXPECT_FLOAT_EQ(c.config().model().layers(2).dropout().rate(), 0.5f);
  c.apply_override("model.input_shape=28,28,1");
  EXPECT_EQ(std::vector<int>(c.config().model().input_shape().begin(), c.config().model().input_shape().end()),
            (std::vector<int>{28, 28, 1}));
  c.apply_override("model.input_shape=[6, 6, 2]");  // the text format's list, as in a config
  EXPECT_EQ(std::vector<int>(c.config().model().input_shape().begin(), c.config().model().input_shape().end()),
            (std::vector<int>{6, 6, 2}));
  expect_input_error([&] { c.apply_override("model.input_shape=[6, x]"); }, "--set model.input_shape=[6, x]",
                     {"'x' is not a number"});
  c.apply_override("data.csv.header=YES");
  EXPECT_TRUE(c.config().data().has_csv());
  EXPECT_EQ(c.config().data().csv().header(), CsvData::YES);
  c.apply_override("shuffle=false");
  EXPECT_FALSE(c.config().shuffle());
  c.apply_override("loss=mean_squared_error");
  EXPECT_EQ(c.config().loss(), "mean_squared_error");
  c.apply_override("lr_schedule={cosine{decay_steps:100}}");
  EXPECT_EQ(c.config().lr_schedule().cosine().decay_steps(), 100);
  // Untouched fields keep their file values.
  EXPECT_EQ(c.config().batch_size(), 16);
  EXPECT_EQ(c.config().model().layers(0).dense().units(), 8);
}

TEST_F(ConfigFileTest, OverrideErrors) {
  ConfigFile c = load_good();
  expect_input_error([&] { c.apply_override("epochz=5"); }, "--set epochz=5",
                     {"unknown field 'epochz'", "known:", "epochs", "batch_size", "validation_split"});
  expect_input_error([&] { c.apply_override("model.layers[0].dense.unitz=5"); }, "--set model.layers[0].dense.unitz=5",
                     {"unknown field 'unitz'", "known:", "units"});
  expect_input_error([&] { c.apply_override("epochs=abc"); }, "--set epochs=abc", {"'abc' is not a number"});
  expect_input_error([&] { c.apply_override("epochs=2.5"); }, "--set epochs=2.5", {"not an integer"});
  expect_input_error([&] { c.apply_override("optimizer.adam.learning_rate=fast"); },
                     "--set optimizer.adam.learning_rate=fast", {"'fast' is not a number"});
  expect_input_error([&] { c.apply_override("model.layers[20].dropout.rate=0.1"); },
                     "--set model.layers[20].dropout.rate=0.1", {"index 20 out of range", "5 elements"});
  expect_input_error([&] { c.apply_override("model.input_shape[3]=4"); }, "--set model.input_shape[3]=4",
                     {"out of range"});
  expect_input_error([&] { c.apply_override("epochs"); }, "--set epochs", {"expected FIELD=VALUE"});
  expect_input_error([&] { c.apply_override("=5"); }, "--set =5", {"expected FIELD=VALUE"});
  expect_input_error([&] { c.apply_override("data.csv.header=MAYBE"); }, "--set data.csv.header=MAYBE",
                     {"'MAYBE' is not one of", "AUTO", "YES", "NO"});
  expect_input_error([&] { c.apply_override("shuffle=perhaps"); }, "--set shuffle=perhaps", {"not a bool"});
  expect_input_error([&] { c.apply_override("epochs.value=1"); }, "--set epochs.value=1", {"not a message"});
  // Nothing was changed by the failed overrides.
  EXPECT_EQ(c.config().epochs(), 3);
  EXPECT_EQ(c.config().model().layers_size(), 5);
}

// Integers from --set are checked against their field's type: a value that
// does not fit is an error, never wrapped around (4294967328 is not 32).
TEST_F(ConfigFileTest, OverrideIntegersAreRangeChecked) {
  ConfigFile c = load_good();
  expect_input_error([&] { c.apply_override("batch_size=4294967328"); }, "--set batch_size=4294967328",
                     {"4294967328 is out of range for batch_size (int32: -2147483648 to 2147483647)"});
  expect_input_error([&] { c.apply_override("epochs=4294967297"); }, "--set epochs=4294967297", {"out of range"});
  expect_input_error([&] { c.apply_override("epochs=-2147483649"); }, "--set epochs=-2147483649", {"out of range"});
  expect_input_error([&] { c.apply_override("epochs=1e10"); }, "--set epochs=1e10", {"out of range"});
  expect_input_error([&] { c.apply_override("epochs=99999999999999999999999999999999999999999"); },
                     "--set epochs=99999999999999999999999999999999999999999", {"out of range"});
  expect_input_error([&] { c.apply_override("seed=-1"); }, "--set seed=-1",
                     {"out of range for seed (uint64: 0 to 18446744073709551615)"});
  expect_input_error([&] { c.apply_override("max_steps=9223372036854775808"); }, "--set max_steps=9223372036854775808",
                     {"out of range for max_steps (int64"});
  expect_input_error([&] { c.apply_override("optimizer.adam.learning_rate=1e39"); },
                     "--set optimizer.adam.learning_rate=1e39", {"out of range for learning_rate (float"});
  EXPECT_EQ(c.config().epochs(), 3);
  // Exact at the edges, where a double would round.
  c.apply_override("seed=18446744073709551615");
  EXPECT_EQ(c.config().seed(), UINT64_MAX);
  c.apply_override("max_steps=9223372036854775807");
  EXPECT_EQ(c.config().max_steps(), INT64_MAX);
  c.apply_override("epochs=-2147483648");
  EXPECT_EQ(c.config().epochs(), INT32_MIN);
  c.apply_override("epochs=1e3");
  EXPECT_EQ(c.config().epochs(), 1000);
  c.apply_override("epochs=+7");
  EXPECT_EQ(c.config().epochs(), 7);
}

TEST_F(ConfigFileTest, OverrideIndicesMustBeNumbers) {
  ConfigFile c = load_good();
  for (const char* bad : {"model.layers[x].dense.units=3", "model.layers[-1].dense.units=3",
                          "model.layers[].dense.units=3", "model.layers[0x1].dense.units=3",
                          "model.layers[ 0].dense.units=3", "model.layers.0x.dense.units=3",
                          "model.layers[9999999999].dense.units=3"})
    expect_input_error([&] { c.apply_override(bad); }, std::string("--set ") + bad, {"is not a number"});
  expect_input_error([&] { c.apply_override("model.layers[0]x.dense.units=3"); }, "--set model.layers[0]x.dense.units=3",
                     {"unexpected 'x' after ']'"});
  EXPECT_EQ(c.config().model().layers(0).dense().units(), 8);
}

// Protobuf's own text ("[libprotobuf ERROR ...]") never reaches stderr: the
// parser's message becomes part of lockstep's one error line.
TEST_F(ConfigFileTest, MessageValueErrorsAreOneLineWithTheColumn) {
  ConfigFile c = load_good();
  testing::internal::CaptureStderr();
  const Error e = expect_input_error([&] { c.apply_override("optimizer={adam{lr:1}}"); }, "--set optimizer={adam{lr:1}}",
                                     {"'{adam{lr:1}}' is not a valid OptimizerSpec in text format: column 9: ",
                                      "has no field named \"lr\"", "known: learning_rate"});
  expect_input_error([&] { c.apply_override("optimizer=adam{"); }, "--set optimizer=adam{",
                     {"is not a valid OptimizerSpec in text format: column"});
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(e.message().find('\n'), std::string::npos) << e.message();
}

TEST_F(ConfigFileTest, JsonSyntaxErrorsGiveLineAndColumnOnOneLine) {
  testing::internal::CaptureStderr();
  const std::string comma = dir_.write("comma.json", "{\"model\": {\"input_shape\": [3],, }}");
  const Error e = expect_input_error([&] { ConfigFile::load(comma); }, comma + ":1:31",
                                     {"invalid JSON config: Expected an object key or }."});
  EXPECT_EQ(e.message().find('\n'), std::string::npos) << e.message();
  const std::string pair = dir_.write("pair.json", "{\"model\": {\"input_shape\": [3]}\n \"epochs\": 2}");
  expect_input_error([&] { ConfigFile::load(pair); }, pair + ":2:2", {"Expected , or } after key:value pair."});
  const std::string key = dir_.write("key.json", "{\n  \"model\": {\"input_shape\": [3], \"layerz\": []}}");
  expect_input_error([&] { ConfigFile::load(key); }, key + ":2:33", {"(model) layerz: Cannot find field."});
  const std::string cut = dir_.write("cut.json", "{\"model\": ");
  const Error e2 = expect_input_error([&] { ConfigFile::load(cut); }, cut + ":1:11", {"invalid JSON config"});
  EXPECT_EQ(e2.message().find('\n'), std::string::npos) << e2.message();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_F(ConfigFileTest, NonRegularFilesAreRefusedBeforeOpening) {
  const std::string folder = dir_.write("", "");  // the folder itself
  expect_input_error([&] { ConfigFile::load(folder); }, folder,
                     {"cannot open config: is a directory, not a regular file"});
  const std::string fifo = folder + "fifo.pbtxt";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  expect_input_error([&] { ConfigFile::load(fifo); }, fifo, {"cannot open config: is a FIFO (named pipe), not a regular file"});
  expect_input_error([&] { ConfigFile::load("/dev/zero"); }, "/dev/zero", {"is a character device, not a regular file"});
}

TEST_F(ConfigFileTest, LocateGivesTheLineOfAField) {
  ConfigFile c = load_good();
  EXPECT_EQ(c.locate("model.layers[2].dropout.rate"), good_ + ":8: model.layers[2].dropout.rate");
  EXPECT_EQ(c.locate("model.layers[2]"), good_ + ":6: model.layers[2]");
  EXPECT_EQ(c.locate("model.layers[3].dropout.rate"), good_ + ":11: model.layers[3].dropout.rate");
  EXPECT_EQ(c.locate("model.layers.4.dense.units"), good_ + ":12: model.layers.4.dense.units");
  EXPECT_EQ(c.locate("epochs"), good_ + ":16: epochs");
  EXPECT_EQ(c.locate("batch_size"), good_ + ":17: batch_size");
  // Not written in the file: the file and the field.
  EXPECT_EQ(c.locate("run_dir"), good_ + ": run_dir");
  // Overridden fields point at the override.
  c.apply_override("epochs=9");
  EXPECT_EQ(c.locate("epochs"), "--set epochs");
  // A config built in code has no positions.
  const ConfigFile code = ConfigFile::from_message(c.config(), "checkpoint");
  EXPECT_EQ(code.locate("model.layers[2].dropout.rate"), "checkpoint: model.layers[2].dropout.rate");
}

TEST_F(ConfigFileTest, ValidationErrorsNameTheField) {
  const TrainConfig good = load_good().config();
  EXPECT_NO_THROW(validate_config(good));
  auto broken = [&](auto change) {
    TrainConfig t = good;
    change(t);
    return t;
  };
  expect_input_error([&] { validate_config(broken([](TrainConfig& t) { t.set_batch_size(0); })); }, "batch_size",
                     {"must be > 0", "0"});
  expect_input_error([&] { validate_config(broken([](TrainConfig& t) { t.set_epochs(-1); })); }, "epochs",
                     {"must be >= 0", "-1"});
  expect_input_error([&] { validate_config(broken([](TrainConfig& t) { t.set_validation_split(1.5f); })); },
                     "validation_split", {"[0, 1)", "1.5"});
  expect_input_error([&] { validate_config(broken([](TrainConfig& t) { t.clear_data(); })); }, "data", {"missing"});
  expect_input_error([&] { validate_config(broken([](TrainConfig& t) { t.clear_model(); })); }, "model", {"missing"});
  expect_input_error(
      [&] {
        validate_config(broken([](TrainConfig& t) {
          t.set_validation_split(0.2f);
          t.mutable_validation_data()->mutable_synthetic();
        }));
      },
      "validation_split", {"not both"});
}

TEST_F(ConfigFileTest, ConfigHashEqualForEqualConfigsDifferentAfterOverride) {
  ConfigFile a = load_good(), b = load_good();
  EXPECT_EQ(config_hash(a.config()), config_hash(b.config()));
  EXPECT_EQ(config_hash(a.config()), config_hash(ConfigFile::from_message(a.config(), "copy").config()));
  b.apply_override("model.layers[2].dropout.rate=0.25");
  EXPECT_NE(config_hash(a.config()), config_hash(b.config()));
  b.apply_override("model.layers[2].dropout.rate=0.5");
  EXPECT_EQ(config_hash(a.config()), config_hash(b.config())) << "same values, same hash";
  a.apply_override("epochs=4");
  EXPECT_NE(config_hash(a.config()), config_hash(b.config()));
}

TEST_F(ConfigFileTest, TextRoundTrip) {
  const ConfigFile c = load_good();
  const std::string text = to_text(c.config());
  const std::string path = dir_.write("round.pbtxt", text);
  EXPECT_EQ(config_hash(ConfigFile::load(path).config()), config_hash(c.config())) << text;
}

}  // namespace
}  // namespace lockstep
