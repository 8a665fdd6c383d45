// Config load benchmark (issue 16): how long a large config file takes from
// text to what the collector sends, stage by stage, and what whole
// `sondectl validate` runs cost in wall time and peak RSS (for comparing
// builds side by side in one run). See README.md here.
//
//   sonde-bench-config-load --checks 100000 --rounds 3 --dir /tmp/x \
//       [--sondectl before=/path/sondectl --sondectl after=build/bin/sondectl]
//
// The file has the shape of tests/integration/config_delivery_test.cc's: one
// region, N HTTP checks as flow mappings, one "moving" check at 1 s.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/api/region_versions.h"
#include "common/config/config.h"
#include "common/config/yaml_document.h"

namespace sonde {
namespace {

std::string ConfigText(int checks, const std::string& moving_path) {
  std::string out = "regions: [fra]\ndefaults: {interval: 1h, timeout: 2s}\nchecks:\n";
  for (int i = 0; i < checks; ++i) {
    absl::StrAppend(&out, "  - {name: web-", i,
                    ", service: web, http: {url: 'http://127.0.0.1:41234/web/", i, "'}}\n");
  }
  absl::StrAppend(&out,
                  "  - {name: moving, service: moving, interval: 1s, timeout: 800ms, http: {url: "
                  "'http://127.0.0.1:41234",
                  moving_path, "'}}\n");
  return out;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
  return static_cast<bool>(out.flush());
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Wall time and peak RSS (MiB) of `argv`, run to its end; exit status in *code.
std::pair<double, double> Run(const std::vector<std::string>& argv, int* code) {
  std::fflush(stdout);  // or the child's freopen writes our buffer again
  const absl::Time start = absl::Now();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    freopen("/dev/null", "w", stdout);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return {Ms(absl::Now() - start), ru.ru_maxrss / 1024.0};
}

int Main(int argc, char** argv) {
  int checks = 100000, rounds = 3;
  std::string dir = "/tmp";
  std::vector<std::pair<std::string, std::string>> sondectls;  // label, path
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--checks") {
      (void)absl::SimpleAtoi(value, &checks);
    } else if (flag == "--rounds") {
      (void)absl::SimpleAtoi(value, &rounds);
    } else if (flag == "--dir") {
      dir = value;
    } else if (flag == "--sondectl" && value.find('=') != std::string::npos) {
      sondectls.emplace_back(value.substr(0, value.find('=')), value.substr(value.find('=') + 1));
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  const std::string path = dir + "/config-load-bench.yaml";
  const std::string text = ConfigText(checks, "/moving/a");
  const std::string edited = ConfigText(checks, "/moving/b");
  if (!WriteFile(path, text)) {
    std::cerr << "cannot write " << path << "\n";
    return 1;
  }
  std::map<std::string, std::vector<double>> ms;
  uint64_t delta_bytes = 0, full_bytes = 0;
  for (int r = 0; r < rounds; ++r) {
    absl::Time t = absl::Now();
    absl::StatusOr<common::YamlDocument> doc = common::YamlDocument::Parse(text, path);
    ms["1. YAML text -> document (libyaml)"].push_back(Ms(absl::Now() - t));
    doc = common::YamlDocument();  // freed before the next stage
    t = absl::Now();
    absl::StatusOr<v1::Config> first = common::LoadConfigFile(path);
    ms["2. whole load: read, parse, walk, validate, defaults"].push_back(Ms(absl::Now() - t));
    absl::StatusOr<v1::Config> second = common::ParseConfig(edited, path);
    if (!first.ok() || !second.ok()) {
      std::cerr << "config refused: " << first.status() << second.status() << "\n";
      return 1;
    }
    t = absl::Now();
    auto v1 = collector::BuildRegionVersion("fra", *first, nullptr);
    ms["3. region version, full (first Watch)"].push_back(Ms(absl::Now() - t));
    t = absl::Now();
    auto v2 = collector::BuildRegionVersion("fra", *second, v1.get());
    ms["4. region version + delta (after one URL changed)"].push_back(Ms(absl::Now() - t));
    delta_bytes = v2->delta_bytes;
    full_bytes = v1->full_bytes;
  }
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  absl::PrintF("config: %d checks, %d bytes of YAML; full version %d bytes, delta %d bytes\n\n",
               checks + 1, text.size(), full_bytes, delta_bytes);
  absl::PrintF("| stage (in process, this build) | median ms of %d |\n| --- | ---: |\n", rounds);
  for (const auto& [stage, v] : ms) {
    absl::PrintF("| %s | %.0f |\n", stage, Median(v));
  }
  absl::PrintF("\npeak RSS of this process: %.0f MiB\n", self.ru_maxrss / 1024.0);
  if (sondectls.empty()) {
    std::remove(path.c_str());
    return 0;
  }
  // Whole processes, interleaved round by round so load hits all alike.
  std::map<std::string, std::vector<double>> wall, rss;
  for (int r = 0; r < rounds; ++r) {
    for (const auto& [label, bin] : sondectls) {
      int code = 0;
      auto [w, m] = Run({bin, "validate", "--config", path}, &code);
      if (code != 0) {
        std::cerr << label << ": sondectl validate exited " << code << "\n";
        return 1;
      }
      wall[label].push_back(w);
      rss[label].push_back(m);
    }
  }
  absl::PrintF(
      "\n| `sondectl validate` (%d rounds, interleaved) | wall ms (median) | peak RSS MiB |\n",
      rounds);
  absl::PrintF("| --- | ---: | ---: |\n");
  for (const auto& [label, bin] : sondectls) {
    absl::PrintF("| %s | %.0f | %.0f |\n", label, Median(wall[label]), Median(rss[label]));
  }
  std::remove(path.c_str());
  return 0;
}

}  // namespace
}  // namespace sonde

int main(int argc, char** argv) { return sonde::Main(argc, argv); }
