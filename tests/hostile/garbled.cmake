# A target answering invalid UTF-8 beside 100 healthy checks, for minutes
# (SONDE_HOSTILE_RUN_S, default 300): every result stored, with a spool,
# without, and across a prober SIGKILL (three probers at once). Real
# PostgreSQL, collector, probers and faultd; mostly waits on the clock.
sonde_cc_test(NAME hostile_garbled_test
  SRCS garbled_test.cc
  DEPS sonde::test_cluster
  LABELS "hostile;longrun" TIMEOUT 900 COST 900)
