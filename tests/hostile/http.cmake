# The HTTP side of a real collector under attack: 2 GB and slowloris POSTs,
# cross-origin and wrongly scoped acknowledgements, an open --http-listen,
# a malformed tokens file at reload, terminal escapes through sondectl.
sonde_cc_test(NAME hostile_http_test
  SRCS http_test.cc
  DEPS sonde::test_cluster sonde::testing PkgConfig::HTTPLIB
  LABELS hostile TIMEOUT 180)
