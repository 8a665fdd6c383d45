#include "tests/testing/postgres_fixture.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/testing/process.h"

namespace sonde::testing {
namespace {

std::string& ConnInfoStorage() {
  static std::string* conninfo = new std::string;
  return *conninfo;
}

// $SONDE_SOURCE_DIR (set by sonde_cc_test), else the checkout the test was
// built from, when the build passes SONDE_TEST_SOURCE_DIR.
std::string Script() {
  const char* source = std::getenv("SONDE_SOURCE_DIR");
#ifdef SONDE_TEST_SOURCE_DIR
  if (source == nullptr || source[0] == '\0') {
    source = SONDE_TEST_SOURCE_DIR;
  }
#endif
  if (source == nullptr || source[0] == '\0') {
    return "";
  }
  return std::string(source) + "/deploy/local-postgres.sh";
}

}  // namespace

const std::string& PostgresEnvironment::conninfo() { return ConnInfoStorage(); }

void PostgresEnvironment::SetUp() {
  const std::string script = Script();
  if (script.empty()) {
    ADD_FAILURE() << "SONDE_SOURCE_DIR is not set (ctest sets it; when running the test "
                     "binary by hand, export SONDE_SOURCE_DIR=/path/to/checkout)";
    return;
  }
  char tmpl[] = "/tmp/sonde-pgtest.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  // Let the postgres user (the script's cluster owner when we are root)
  // reach the directory, so the cluster lives right here.
  chmod(dir_.c_str(), 0711);
  std::string output;
  // A free port can be taken between FreePort() and the server's bind.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = FreePort();
    int rc = RunCommand({"/bin/bash", script, "start", dir_ + "/pg", std::to_string(port)}, &output,
                        std::chrono::seconds(120));
    if (rc == 0) {
      ConnInfoStorage() =
          "host=127.0.0.1 port=" + std::to_string(port) + " user=sonde dbname=sonde";
      return;
    }
  }
  ADD_FAILURE() << "could not start PostgreSQL with " << script << ":\n" << output;
}

void PostgresEnvironment::TearDown() {
  if (dir_.empty()) {
    return;
  }
  std::string output;
  int rc = RunCommand({"/bin/bash", Script(), "destroy", dir_ + "/pg"}, &output,
                      std::chrono::seconds(60));
  if (rc != 0) {
    ADD_FAILURE() << "local-postgres.sh destroy failed:\n" << output;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  ConnInfoStorage().clear();
}

}  // namespace sonde::testing
