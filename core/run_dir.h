// The run directory: its files (config.pbtxt, history.jsonl, final/) and its
// checkpoints/ folder (naming, the newest good one, keeping only the last K).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/checkpoint.h"

namespace lockstep {

// RUN_DIR/name
std::string run_file(const std::string& run_dir, const std::string& name);
// mkdir -p; errors name the folder and the OS reason (exit 1).
void make_dirs(const std::string& path);
// Writes (or appends) text and fsyncs it (unless `sync` is false); a failed
// write, fsync or close is an error naming the file and the OS's reason
// (exit 1).
void write_text_file(const std::string& path, const std::string& text, bool append, bool sync = true);
bool file_exists(const std::string& path);
// Removes what a run writes into its directory: checkpoints/ckpt-*.pb,
// history.jsonl, history.csv, config.pbtxt, final/ and best/ (model.pb,
// config.pbtxt), report.html. Other files are left alone.
void remove_run_files(const std::string& run_dir);

std::string checkpoint_dir(const std::string& run_dir);
std::string checkpoint_path(const std::string& run_dir, int64_t step);
// Checkpoint files, newest (highest step) first.
std::vector<std::string> list_checkpoints(const std::string& run_dir);
// The newest checkpoint that verifies; reports every damaged one it skips to
// stderr. Empty if there is none.
std::optional<std::string> newest_good_checkpoint(const std::string& run_dir);
// Deletes all but the newest `keep` (0 = keep all).
void prune_checkpoints(const std::string& run_dir, int keep);
// Deletes temporary files of saves that crashed before their rename. Call
// only while no save is under way (at start-up, on rank 0).
void remove_stale_temporaries(const std::string& run_dir);

}  // namespace lockstep
