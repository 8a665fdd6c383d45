# Hostile ingest clients against a real sonde-collector and PostgreSQL:
# 1,000 streams on one token, 150 streams on one connection (at most 100
# served at once), 1 M gaps, INT64_MAX times, future-dated results
# with 10 MB details, PostgreSQL black-holed (SIGSTOP) during an HTTP ack.
sonde_cc_test(NAME hostile_ingest_test
  SRCS ingest_test.cc
  DEPS sonde::test_cluster sonde::testing sonde::proto gRPC::grpc++ PkgConfig::HTTPLIB
       absl::strings absl::synchronization absl::time
  LABELS hostile TIMEOUT 300 SERIAL)
