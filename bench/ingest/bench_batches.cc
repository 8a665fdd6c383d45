#include "bench/ingest/bench_batches.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "absl/strings/str_format.h"

namespace sonde::bench {
namespace {

// Result seqs are written as 4-byte varints (2^21 <= seq < 2^28) and
// start_time seconds as 5-byte ones (2^28 <= s < 2^35, years 1978-3058), so
// a patched value takes exactly the bytes of the one it replaces.
constexpr uint64_t kSeqBase = uint64_t{1} << 21;
constexpr uint64_t kSeqEnd = uint64_t{1} << 28;
constexpr int kSeqBytes = 4;
constexpr int kSecondsBytes = 5;
constexpr int kMaxTemplates = 16;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "sonde-bench-ingest: batch template: %s\n", what);
  std::abort();
}

// Reads a varint at data[*at], advancing *at; its length in *bytes.
uint64_t ReadVarint(const std::string& data, size_t* at, int* bytes) {
  uint64_t v = 0;
  for (int shift = 0, n = 1; *at < data.size() && shift < 64; shift += 7, ++n) {
    const auto b = static_cast<unsigned char>(data[(*at)++]);
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) {
      *bytes = n;
      return v;
    }
  }
  Fail("truncated varint");
}

// Writes `v` as exactly `bytes` varint bytes at `p`.
void PutVarint(uint64_t v, int bytes, char* p) {
  for (int i = 0; i < bytes; ++i) {
    p[i] = static_cast<char>((v & 0x7f) | (i + 1 < bytes ? 0x80 : 0));
    v >>= 7;
  }
  if (v != 0) {
    Fail("value wider than its varint");
  }
}

// Skips the value of a field with wire type `wire` at *at.
void SkipValue(const std::string& data, int wire, size_t* at) {
  int bytes = 0;
  switch (wire) {
    case 0:
      ReadVarint(data, at, &bytes);
      return;
    case 1:
      *at += 8;
      return;
    case 2:
      *at += ReadVarint(data, at, &bytes);
      return;
    case 5:
      *at += 4;
      return;
    default:
      Fail("unexpected wire type");
  }
}

// The offsets of seq (field 6) and start_time.seconds (field 7, field 1)
// in the ProbeResult encoded at data[begin, end).
void FindPatchPoints(const std::string& data, size_t begin, size_t end, uint32_t* seq_at,
                     uint32_t* seconds_at) {
  bool seq = false, seconds = false;
  size_t at = begin;
  while (at < end) {
    int bytes = 0;
    const uint64_t tag = ReadVarint(data, &at, &bytes);
    const int field = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    if (field == 6 && wire == 0) {
      *seq_at = static_cast<uint32_t>(at);
      ReadVarint(data, &at, &bytes);
      seq = bytes == kSeqBytes;
    } else if (field == 7 && wire == 2) {
      const size_t inner_end = ReadVarint(data, &at, &bytes) + at;
      while (at < inner_end) {
        const uint64_t inner = ReadVarint(data, &at, &bytes);
        if (inner == (1 << 3 | 0)) {
          *seconds_at = static_cast<uint32_t>(at);
          ReadVarint(data, &at, &bytes);
          seconds = bytes == kSecondsBytes;
        } else {
          SkipValue(data, static_cast<int>(inner & 7), &at);
        }
      }
    } else {
      SkipValue(data, wire, &at);
    }
  }
  if (!seq || !seconds) {
    Fail("seq or start_time.seconds not found at their fixed width");
  }
}

}  // namespace

v1::ProbeResult MakeResult(const std::string& prober_id, const std::string& region, uint64_t seq,
                           int check, absl::Time end, std::mt19937_64* rng) {
  std::uniform_int_distribution<int> pct(0, 99);
  std::uniform_int_distribution<uint32_t> jitter(0, 4000);
  v1::ProbeResult r;
  r.set_check_id(absl::StrFormat("app-%04d-login", check));
  r.set_service(absl::StrFormat("service-%02d", check % 40));
  r.set_kind("http");
  r.set_prober_id(prober_id);
  r.set_region(region);
  r.set_seq(seq);
  const uint32_t dns = 800 + jitter(*rng) / 4, connect = 300 + jitter(*rng) / 8,
                 tls = 2500 + jitter(*rng), first = 9000 + 3 * jitter(*rng);
  const uint32_t total = dns + connect + tls + first + 400;
  absl::Time start = end - absl::Microseconds(total);
  r.mutable_start_time()->set_seconds(absl::ToUnixSeconds(start));
  r.mutable_start_time()->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(start - absl::FromUnixSeconds(absl::ToUnixSeconds(start)))));
  const bool ok = pct(*rng) >= 2;
  r.set_ok(ok);
  r.set_failure_class(ok ? v1::FailureClass::OK : v1::FailureClass::HTTP_STATUS);
  r.set_detail(ok ? "HTTP 200" : "HTTP 503, expected 200-399");
  r.set_dns_us(dns);
  r.set_connect_us(connect);
  r.set_tls_us(tls);
  r.set_first_byte_us(first);
  r.set_total_us(total);
  r.set_target(absl::StrFormat("https://app-%04d.example.test/login", check));
  r.set_resolved_address(absl::StrFormat("192.0.2.%d:443", check % 250 + 1));
  r.set_http_status(ok ? 200 : 503);
  r.set_tls_version("TLSv1.3");
  r.set_tls_cipher("TLS_AES_256_GCM_SHA384");
  r.set_cert_subject(absl::StrFormat("CN=app-%04d.example.test", check));
  r.set_cert_issuer("CN=Example Issuing CA,O=Example");
  r.add_cert_sans(absl::StrFormat("app-%04d.example.test", check));
  r.set_cert_not_before("2026-09-01T00:00:00Z");
  r.set_cert_not_after("2026-12-30T00:00:00Z");
  r.set_cert_days_left(40);
  r.set_chain_not_after("2026-12-30T00:00:00Z");
  r.set_body_bytes(5120 + check % 1000);
  return r;
}

v1::ResultBatch MakeBatch(const std::string& prober_id, const std::string& region,
                          uint64_t batch_seq, uint64_t* next_seq, int n, int checks, absl::Time end,
                          std::mt19937_64* rng) {
  v1::ResultBatch b;
  b.set_prober_id(prober_id);
  b.set_region(region);
  b.set_batch_seq(batch_seq);
  b.mutable_results()->Reserve(n);
  for (int i = 0; i < n; ++i) {
    uint64_t seq = (*next_seq)++;
    *b.add_results() = MakeResult(prober_id, region, seq, static_cast<int>(seq % checks), end, rng);
  }
  return b;
}

BatchTemplates::BatchTemplates(const std::string& prober_id, const std::string& region, int batch,
                               int checks, absl::Time end, uint64_t seed)
    : prober_id_(prober_id),
      region_(region),
      batch_(batch),
      template_seconds_(absl::ToUnixSeconds(end)) {
  std::mt19937_64 rng(seed);
  const int cycle = checks / std::gcd(checks, batch);
  uint64_t next_seq = kSeqBase;
  for (int t = 0; t < std::min(cycle, kMaxTemplates); ++t) {
    // Check ids as MakeBatch gives them from seq 1 on.
    uint64_t check_seq = 1 + static_cast<uint64_t>(t) * batch;
    v1::ResultBatch b = MakeBatch(prober_id, region, 0, &check_seq, batch, checks, end, &rng);
    Template tpl;
    for (v1::ProbeResult& r : *b.mutable_results()) {
      r.set_seq(next_seq++);
      const std::string one = r.SerializeAsString();
      v1::ResultBatch wrapper;  // the element's tag and length, as in a batch
      *wrapper.add_results() = r;
      const std::string element = wrapper.SerializeAsString();
      const size_t at = tpl.results.size() + element.size() - one.size();
      tpl.results += element;
      uint32_t seq_at = 0, seconds_at = 0;
      FindPatchPoints(tpl.results, at, tpl.results.size(), &seq_at, &seconds_at);
      tpl.seq_at.push_back(seq_at);
      tpl.seconds_at.push_back(seconds_at);
    }
    templates_.push_back(std::move(tpl));
  }
  // Read one back: the patched bytes must parse to what MakeBatch would send.
  std::string bytes;
  Next(7, end + absl::Seconds(3), &bytes);
  sent_ = 0;
  v1::ResultBatch back;
  if (!back.ParseFromString(bytes) || back.batch_seq() != 7 || back.results_size() != batch ||
      back.results(batch - 1).seq() != kSeqBase + batch - 1 || back.prober_id() != prober_id ||
      back.results(0).start_time().seconds() <= absl::ToUnixSeconds(end) ||
      back.results(0).check_id() != absl::StrFormat("app-%04d-login", 1 % checks)) {
    Fail("a patched batch does not read back");
  }
}

void BatchTemplates::Next(uint64_t batch_seq, absl::Time end, std::string* out) {
  const Template& tpl = templates_[sent_ % templates_.size()];
  const uint64_t first_seq = kSeqBase + sent_ * batch_;
  if (first_seq + batch_ >= kSeqEnd) {
    Fail("more results than 4-byte seqs hold");
  }
  ++sent_;
  v1::ResultBatch header;
  header.set_prober_id(prober_id_);
  header.set_region(region_);
  header.set_batch_seq(batch_seq);
  out->clear();
  header.AppendToString(out);
  const size_t base = out->size();
  out->append(tpl.results);
  const int64_t moved = absl::ToUnixSeconds(end) - template_seconds_;
  for (size_t i = 0; i < tpl.seq_at.size(); ++i) {
    PutVarint(first_seq + i, kSeqBytes, out->data() + base + tpl.seq_at[i]);
    size_t at = tpl.seconds_at[i];
    int bytes = 0;
    const uint64_t seconds = ReadVarint(tpl.results, &at, &bytes);
    PutVarint(seconds + moved, kSecondsBytes, out->data() + base + tpl.seconds_at[i]);
  }
}

}  // namespace sonde::bench
