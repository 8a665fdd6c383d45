// The sonde-prober program: flags, wiring, signals. main.cc only calls
// RunProber(). Returns the process exit status: 0 ok (with --once: every
// check passed), 1 a check failed (--once) or a runtime error, 2 a usage or
// config error.
#ifndef SONDE_PROBER_APP_H_
#define SONDE_PROBER_APP_H_

namespace sonde::prober {

int RunProber(int argc, char** argv);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_APP_H_
