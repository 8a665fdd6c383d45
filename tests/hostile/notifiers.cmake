# Notifier transport (issue 10): an SMTP server without STARTTLS, a webhook
# that hangs, one that answers 10 MB. The real Dispatcher on a real
# PostgreSQL against loopback receivers; ~25 s (one 10 s send timeout, twice).
sonde_cc_test(NAME hostile_notifiers_test
  SRCS notifiers_test.cc ${PROJECT_SOURCE_DIR}/tests/testing/postgres_fixture.cc
  DEPS sonde::notify sonde::storage sonde::testing sonde::faultd OpenSSL::SSL PkgConfig::HTTPLIB
  LABELS hostile TIMEOUT 180)
target_compile_definitions(hostile_notifiers_test
  PRIVATE SONDE_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
