// Child processes for integration tests: start a binary with arguments,
// stdout/stderr to files, send signals, wait with a deadline. Not
// thread-safe; one owner.
#ifndef SONDE_TESTS_TESTING_PROCESS_H_
#define SONDE_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace sonde::testing {

class Process {
 public:
  // Starts `argv[0]` with `argv`; output goes to `log_path` (both streams).
  Process(std::vector<std::string> argv, std::string log_path);
  ~Process();  // SIGKILLs a child that is still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Exit status (or 128+signal) if the child ended within `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// A loopback TCP port that was free a moment ago.
int FreePort();
// Path of a built binary (SONDE_BIN_DIR from ctest's environment).
std::string BinPath(const std::string& name);
// Runs a command to completion; returns exit status and fills `output`.
int RunCommand(const std::vector<std::string>& argv, std::string* output,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));
// A TCP connection to 127.0.0.1:port (the caller closes it), or -1.
int ConnectLoopback(int port);
// Waits until something accepts TCP connections on 127.0.0.1:port.
bool WaitForPort(int port, std::chrono::milliseconds timeout);

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_PROCESS_H_
