// The string fields of a ProbeResult and of the messages it holds, by
// their generated accessors: the one list both ends walk when they check a
// result's text without reflection — the prober's last-line repair
// (prober/probes/result_text.h) and the collector's clean check before the
// COPY (collector/storage/utf8.h). A field is read with its getter (no
// copy); only a field to be changed is touched through its mutable
// accessor (which would allocate an unset field). The lists are types
// (StringFields), walked by a fold: no table, no indirect call per field.
// ProbeResult's one repeated string field, `cert_sans`, and the nesting
// (dns → answers) are walked by the callers. Tests on both sides set every string field the
// descriptors name and fail when one is missing here
// (result_text_test.cc, store_encoding_test.cc).
//
// Types only; any thread.
#ifndef SONDE_COMMON_RESULT_STRINGS_H_
#define SONDE_COMMON_RESULT_STRINGS_H_

#include <string>

#include "sonde/v1/result.pb.h"

namespace sonde::common {

// One string field: its getter and its mutable accessor, as template
// arguments, so that a walk over a list calls them directly (inlined), not
// through a member pointer read from a table.
template <typename M, const std::string& (M::*kGet)() const, std::string* (M::*kMutable)()>
struct StringField {
  static const std::string& Get(const M& m) { return (m.*kGet)(); }
  static std::string* Mutable(M* m) { return (m->*kMutable)(); }
};

// A list of string fields of one message type. ForEach(m, visit) calls
// visit(field) with each field type in turn (an empty object: visit reads
// decltype(field)::Get(m)); AllOf(visit) stops at the first false.
template <typename... Fields>
struct StringFields {
  template <typename Visit>
  static void ForEach(Visit&& visit) {
    (visit(Fields{}), ...);
  }
  template <typename Visit>
  static bool AllOf(Visit&& visit) {
    return (visit(Fields{}) && ...);
  }
};

namespace result_strings_internal {
using P = v1::ProbeResult;
using ResultStrings = StringFields<
    StringField<P, &P::check_id, &P::mutable_check_id>,
    StringField<P, &P::service, &P::mutable_service>, StringField<P, &P::kind, &P::mutable_kind>,
    StringField<P, &P::prober_id, &P::mutable_prober_id>,
    StringField<P, &P::region, &P::mutable_region>, StringField<P, &P::detail, &P::mutable_detail>,
    StringField<P, &P::target, &P::mutable_target>,
    StringField<P, &P::resolved_address, &P::mutable_resolved_address>,
    StringField<P, &P::tls_version, &P::mutable_tls_version>,
    StringField<P, &P::tls_cipher, &P::mutable_tls_cipher>,
    StringField<P, &P::cert_subject, &P::mutable_cert_subject>,
    StringField<P, &P::cert_issuer, &P::mutable_cert_issuer>,
    StringField<P, &P::cert_not_before, &P::mutable_cert_not_before>,
    StringField<P, &P::cert_not_after, &P::mutable_cert_not_after>,
    StringField<P, &P::chain_not_after, &P::mutable_chain_not_after>,
    StringField<P, &P::banner, &P::mutable_banner>,
    StringField<P, &P::dns_rcode, &P::mutable_dns_rcode>,
    StringField<P, &P::fallback_address, &P::mutable_fallback_address>,
    StringField<P, &P::grpc_serving_status, &P::mutable_grpc_serving_status>>;

using R = v1::DnsResolverResult;
using ResolverStrings = StringFields<StringField<R, &R::resolver, &R::mutable_resolver>,
                                     StringField<R, &R::rcode, &R::mutable_rcode>>;

using D = v1::DnsRecord;
using RecordStrings = StringFields<StringField<D, &D::name, &D::mutable_name>,
                                   StringField<D, &D::type, &D::mutable_type>,
                                   StringField<D, &D::data, &D::mutable_data>>;
}  // namespace result_strings_internal

using result_strings_internal::RecordStrings;
using result_strings_internal::ResolverStrings;
using result_strings_internal::ResultStrings;

}  // namespace sonde::common

#endif  // SONDE_COMMON_RESULT_STRINGS_H_
