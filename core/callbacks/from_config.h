// The callbacks a config's `callbacks { ... }` asks for: the one place that
// turns CallbacksSpec into callback objects, and checks it before any work.
#pragma once

#include <cstdio>

#include "core/callbacks/callback.h"
#include "core/model.h"
#include "train.pb.h"

namespace lockstep {

// True when the config has validation data (validation_split or validation_data).
bool has_validation(const TrainConfig& config);

// Errors (exit 2) name the field: unknown monitor or mode, a val_ metric
// without validation data, factor outside (0, 1), negative patience.
void validate_callbacks(const TrainConfig& config);

// Adds early_stopping, reduce_lr_on_plateau, csv_logger and
// terminate_on_nan as configured; `out` is rank 0's stdout (null elsewhere).
void add_config_callbacks(CallbackList& list, const TrainConfig& config, Model& model, std::FILE* out, bool root);

}  // namespace lockstep
