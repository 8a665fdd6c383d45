// The string fields of a ProbeResult and of the messages it holds, by
// their generated accessors: the one list both ends walk when they check a
// result's text without reflection — the prober's last-line repair
// (prober/probes/result_text.h) and the collector's clean check before the
// COPY (collector/storage/utf8.h). A field is read with its getter (no
// copy); only a field to be changed is touched through its mutable
// accessor (which would allocate an unset field). ProbeResult's one
// repeated string field, `cert_sans`, and the nesting (dns → answers) are
// walked by the callers. Tests on both sides set every string field the
// descriptors name and fail when one is missing here
// (result_text_test.cc, store_encoding_test.cc).
//
// Constants only; any thread.
#ifndef SONDE_COMMON_RESULT_STRINGS_H_
#define SONDE_COMMON_RESULT_STRINGS_H_

#include <string>

#include "sonde/v1/result.pb.h"

namespace sonde::common {

template <typename M>
struct StringField {
  const std::string& (M::*get)() const;
  std::string* (M::*mutable_field)();
};

inline constexpr StringField<v1::ProbeResult> kResultStrings[] = {
    {&v1::ProbeResult::check_id, &v1::ProbeResult::mutable_check_id},
    {&v1::ProbeResult::service, &v1::ProbeResult::mutable_service},
    {&v1::ProbeResult::kind, &v1::ProbeResult::mutable_kind},
    {&v1::ProbeResult::prober_id, &v1::ProbeResult::mutable_prober_id},
    {&v1::ProbeResult::region, &v1::ProbeResult::mutable_region},
    {&v1::ProbeResult::detail, &v1::ProbeResult::mutable_detail},
    {&v1::ProbeResult::target, &v1::ProbeResult::mutable_target},
    {&v1::ProbeResult::resolved_address, &v1::ProbeResult::mutable_resolved_address},
    {&v1::ProbeResult::tls_version, &v1::ProbeResult::mutable_tls_version},
    {&v1::ProbeResult::tls_cipher, &v1::ProbeResult::mutable_tls_cipher},
    {&v1::ProbeResult::cert_subject, &v1::ProbeResult::mutable_cert_subject},
    {&v1::ProbeResult::cert_issuer, &v1::ProbeResult::mutable_cert_issuer},
    {&v1::ProbeResult::cert_not_before, &v1::ProbeResult::mutable_cert_not_before},
    {&v1::ProbeResult::cert_not_after, &v1::ProbeResult::mutable_cert_not_after},
    {&v1::ProbeResult::chain_not_after, &v1::ProbeResult::mutable_chain_not_after},
    {&v1::ProbeResult::banner, &v1::ProbeResult::mutable_banner},
    {&v1::ProbeResult::dns_rcode, &v1::ProbeResult::mutable_dns_rcode},
    {&v1::ProbeResult::fallback_address, &v1::ProbeResult::mutable_fallback_address},
    {&v1::ProbeResult::grpc_serving_status, &v1::ProbeResult::mutable_grpc_serving_status},
};
inline constexpr StringField<v1::DnsResolverResult> kResolverStrings[] = {
    {&v1::DnsResolverResult::resolver, &v1::DnsResolverResult::mutable_resolver},
    {&v1::DnsResolverResult::rcode, &v1::DnsResolverResult::mutable_rcode},
};
inline constexpr StringField<v1::DnsRecord> kRecordStrings[] = {
    {&v1::DnsRecord::name, &v1::DnsRecord::mutable_name},
    {&v1::DnsRecord::type, &v1::DnsRecord::mutable_type},
    {&v1::DnsRecord::data, &v1::DnsRecord::mutable_data},
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_RESULT_STRINGS_H_
