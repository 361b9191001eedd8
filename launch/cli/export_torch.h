// `trainer export MODEL.pb OUT.pt` (or --format torch): PyTorch code is
// Python, so the trainer runs launch/to_torch.py, which writes the
// state_dict and the module code (see that script).
#pragma once

#include <string>

namespace lockstep::cli {

// Runs the script found next to this trainer (installed: PREFIX/share/
// lockstep/launch; else the source tree it was built from) with Debian's
// /usr/bin/python3 (python3-torch, python3-protobuf are installed for it)
// or python3 on PATH. Returns the script's exit status; it prints its own
// "error: WHERE: WHAT" line.
int export_torch(const std::string& from, const std::string& to);

}  // namespace lockstep::cli
