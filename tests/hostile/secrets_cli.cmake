# Secrets on the command line and the probe policy, as processes: `--help`
# with SONDE_TOKEN set, and `sonde-prober --once` against a target on
# 127.0.0.1 that redirects to 127.0.0.2 with probe_policy denying it.
sonde_cc_test(NAME hostile_secrets_cli_test
  SRCS secrets_cli_test.cc
  DEPS sonde::testing sonde::faultd sonde::proto absl::strings absl::time
  LABELS hostile TIMEOUT 120)
