#include "launch/cli/export_torch.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/error.h"

extern char** environ;

namespace lockstep::cli {
namespace {

std::string executable_dir() {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) return ".";
  const std::string path(buffer, static_cast<size_t>(n));
  return path.substr(0, path.find_last_of('/'));
}

bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

std::string to_torch_script() {
  const std::vector<std::string> places = {executable_dir() + "/../share/lockstep/launch/to_torch.py",
                                           std::string(LOCKSTEP_SOURCE_DIR) + "/launch/to_torch.py"};
  for (const std::string& p : places)
    if (readable(p)) return p;
  throw_runtime_error("export", "to_torch.py not found (looked for " + places[0] + " and " + places[1] + ")");
}

}  // namespace

int export_torch(const std::string& from, const std::string& to) {
  const std::string script = to_torch_script();
  std::string python = readable("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  std::vector<std::string> args = {python, script, from, to};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  pid_t pid = 0;
  const int error = ::posix_spawnp(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ);
  if (error != 0) throw_runtime_error(python, std::string("cannot run: ") + std::strerror(error));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw_runtime_error(script, std::string("waiting for it: ") + std::strerror(errno));
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  throw_runtime_error(script, "ended by signal " + std::to_string(WTERMSIG(status)));
}

}  // namespace lockstep::cli
