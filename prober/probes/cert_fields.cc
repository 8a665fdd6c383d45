#include "prober/probes/cert_fields.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace sonde::prober {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The value of a "Key:value" line of one certificate, or empty.
absl::string_view Field(const curl_slist* fields, absl::string_view key) {
  for (const curl_slist* f = fields; f != nullptr; f = f->next) {
    absl::string_view line(f->data);
    if (absl::ConsumePrefix(&line, key) && absl::ConsumePrefix(&line, ":")) {
      return line;
    }
  }
  return {};
}

}  // namespace

void SetCertificateTimes(absl::Time not_before, absl::Time not_after, absl::Time chain_not_after,
                         absl::Time now, v1::ProbeResult* result) {
  result->set_cert_not_before(Rfc3339(not_before));
  result->set_cert_not_after(Rfc3339(not_after));
  result->set_cert_days_left(
      static_cast<int32_t>(absl::ToDoubleHours(not_after - now) / 24 - (not_after < now ? 1 : 0)));
  if (chain_not_after != absl::InfiniteFuture()) {
    result->set_chain_not_after(Rfc3339(chain_not_after));
  }
}

bool ParseCertInfoDate(absl::string_view text, absl::Time* out) {
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  char month[4] = {0};
  int day = 0, hour = 0, minute = 0, second = 0, year = 0;
  char zone[4] = {0};
  const std::string copy(text.substr(0, 64));
  if (std::sscanf(copy.c_str(), "%3s %d %d:%d:%d %d %3s", month, &day, &hour, &minute, &second,
                  &year, zone) != 7 ||
      std::strcmp(zone, "GMT") != 0 || std::strlen(month) != 3) {
    return false;
  }
  const char* at = std::strstr(kMonths, month);
  if (at == nullptr || (at - kMonths) % 3 != 0) {
    return false;
  }
  const absl::CivilSecond civil(year, (at - kMonths) / 3 + 1, day, hour, minute, second);
  if (civil.day() != day || civil.hour() != hour || civil.minute() != minute) {
    return false;  // out of range fields normalised away
  }
  *out = absl::FromCivil(civil, absl::UTCTimeZone());
  return true;
}

void SetCertificateFromCurl(const curl_certinfo* info, absl::Time now, v1::ProbeResult* result) {
  if (info == nullptr || info->num_of_certs <= 0 || info->certinfo == nullptr) {
    return;
  }
  absl::Time not_before, not_after;
  if (!ParseCertInfoDate(Field(info->certinfo[0], "Start date"), &not_before) ||
      !ParseCertInfoDate(Field(info->certinfo[0], "Expire date"), &not_after)) {
    return;
  }
  absl::Time earliest = absl::InfiniteFuture();
  for (int i = 0; i < info->num_of_certs; ++i) {
    absl::Time t;
    if (ParseCertInfoDate(Field(info->certinfo[i], "Expire date"), &t)) {
      earliest = std::min(earliest, t);
    }
  }
  SetCertificateTimes(not_before, not_after, earliest, now, result);
}

}  // namespace sonde::prober
