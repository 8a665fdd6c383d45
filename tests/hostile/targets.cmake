# 200 healthy checks beside hostile targets on one loop: targets that hang or
# trickle, a regex bomb (1 MiB on one line), invalid UTF-8 from HTTP body and
# header, TCP banner, STARTTLS reply and DNS TXT, a 64 KiB TXT over TCP.
# Prints the lateness p99; timing-sensitive.
sonde_cc_test(NAME hostile_targets_test
  SRCS targets_test.cc
  DEPS sonde::prober sonde::faultd
  LABELS hostile TIMEOUT 120 SERIAL)
