# 200 healthy checks beside hostile targets on one loop; timing-sensitive.
sonde_cc_test(NAME hostile_targets_test
  SRCS targets_test.cc
  DEPS sonde::prober sonde::faultd
  LABELS hostile TIMEOUT 120 SERIAL)
