# Hostile label values on /metrics: check and region names with quotes,
# backslashes, newlines, invalid UTF-8 and NUL bytes (a prober without a
# config names them) render as text `promtool check metrics` accepts.
sonde_cc_test(NAME hostile_metrics_labels_test
  SRCS metrics_labels_test.cc
  DEPS sonde::check_metrics sonde::testing absl::strings
  LABELS hostile)
