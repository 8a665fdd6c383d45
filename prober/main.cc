#include "common/process_defaults.h"
#include "prober/app.h"

int main(int argc, char** argv) {
  sonde::common::ApplyProcessDefaults();
  return sonde::prober::RunProber(argc, argv);
}
