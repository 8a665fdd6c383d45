#include "common/config/config.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/checks/registry.h"
#include "common/config/config_errors.h"
#include "common/config/config_transfer.h"
#include "common/config/slo_rules.h"
#include "common/config/storage_config.h"
#include "common/config/yaml_document.h"
#include "common/config/yaml_to_proto.h"
#include "common/net.h"
#include "common/probe_policy.h"
#include "common/proto_time.h"
#include "google/protobuf/util/time_util.h"

namespace sonde::common {
namespace {

namespace pb = google::protobuf;

// A region, check or service name: 1..128 ASCII letters, digits, '.', '_'
// and '-', starting with a letter or digit.
bool IsName(const std::string& s) {
  if (s.empty() || s.size() > 128 || !absl::ascii_isalnum(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// Where an entry of a list is: `checks[2] "api"` (without the name when it
// has none).
std::string EntryLabel(const char* list, int i, const std::string& name) {
  std::string where = absl::StrCat(list, "[", i, "]");
  if (!name.empty()) {
    absl::StrAppend(&where, " \"", name, "\"");
  }
  return where;
}

// Hands a check type's spec errors to the list, under the check's label and
// the kind prefix ("http.url").
class SpecErrorsAt : public checks::SpecErrors {
 public:
  SpecErrorsAt(ConfigErrors* errors, std::string where, std::string kind)
      : errors_(errors), where_(std::move(where)), kind_(std::move(kind)) {}
  void Add(const std::string& field, const std::string& message) override {
    errors_->Add(where_, absl::StrCat(kind_, ".", field), message);
  }

 private:
  ConfigErrors* errors_;
  std::string where_;
  std::string kind_;
};

class Validator {
 public:
  // `detection_keys`: the keys the YAML `detection:` block spells out. Proto3
  // reads an explicit 0 as unset; counted here, it is refused like any other
  // out-of-range value instead of silently meaning "the default".
  Validator(const v1::Config& c, ConfigErrors* e, std::set<std::string> detection_keys = {})
      : config_(c), errors_(e), detection_keys_(std::move(detection_keys)) {}

  void Run() {
    std::set<std::string> seen;
    for (int i = 0; i < config_.regions_size(); ++i) {
      const std::string& r = config_.regions(i);
      std::string f = absl::StrCat("regions[", i, "]");
      if (!IsName(r)) {
        Error("", f, absl::StrCat("bad region name \"", r, "\""));
      }
      if (!seen.insert(r).second) {
        Error("", f, absl::StrCat("duplicate region \"", r, "\""));
      }
    }
    const auto& defs = config_.defaults();
    if (defs.has_interval()) {
      PositiveDuration("", "defaults.interval", defs.interval());
    }
    if (defs.has_timeout()) {
      PositiveDuration("", "defaults.timeout", defs.timeout());
    }
    SloTarget("", "defaults.slo_target", defs.slo_target());

    std::map<std::string, int> names;
    for (int i = 0; i < config_.checks_size(); ++i) {
      CheckOne(i, &names);
    }
    NotifiersAll();
    ValidateStorage(config_.storage(), errors_);
    MaintenanceAll(names);
    StatusPageAll();
    Detection();
    Policy();
    ValidateSlos(config_, errors_);
  }

 private:
  void Error(const std::string& where, const std::string& field, const std::string& msg) {
    errors_->Add(where, field, msg);
  }

  void PositiveDuration(const std::string& where, const std::string& field,
                        const google::protobuf::Duration& d) {
    if (ToDuration(d) < absl::Milliseconds(100)) {
      Error(where, field, "must be at least 100ms");
    }
  }

  void SloTarget(const std::string& where, const std::string& field, double v) {
    if (v != 0 && (v <= 0 || v >= 100)) {
      Error(where, field, "must be a percentage between 0 and 100, e.g. 99.9");
    }
  }

  void CheckOne(int i, std::map<std::string, int>* names) {
    const v1::Check& c = config_.checks(i);
    const std::string where = EntryLabel("checks", i, c.name());
    if (c.name().empty()) {
      Error(where, "name", "is required");
    } else if (!IsName(c.name())) {
      Error(where, "name", "use letters, digits, '.', '_' and '-' (at most 128)");
    } else if (auto [it, inserted] = names->emplace(c.name(), i); !inserted) {
      Error(where, "name",
            absl::StrCat("duplicate check name (first used by checks[", it->second, "])"));
    }
    if (!c.service().empty() && !IsName(c.service())) {
      Error(where, "service", "use letters, digits, '.', '_' and '-'");
    }
    if (c.has_interval()) {
      PositiveDuration(where, "interval", c.interval());
    }
    if (c.has_timeout()) {
      PositiveDuration(where, "timeout", c.timeout());
    }
    absl::Duration interval = c.has_interval() ? ToDuration(c.interval())
                              : config_.defaults().has_interval()
                                  ? ToDuration(config_.defaults().interval())
                                  : absl::Seconds(30);
    if (c.has_timeout() && ToDuration(c.timeout()) > interval) {
      Error(where, "timeout",
            absl::StrCat("must not exceed the interval (", absl::FormatDuration(interval), ")"));
    }
    SloTarget(where, "slo_target", c.slo_target());
    std::set<std::string> known(config_.regions().begin(), config_.regions().end());
    for (int r = 0; r < c.regions_size(); ++r) {
      if (!known.empty() && known.count(c.regions(r)) == 0) {
        Error(where, absl::StrCat("regions[", r, "]"),
              absl::StrCat("\"", c.regions(r), "\" is not one of the regions [",
                           absl::StrJoin(config_.regions(), ", "), "]"));
      }
    }
    const checks::CheckType* type = checks::FindCheckType(c);
    if (type == nullptr) {
      std::vector<std::string> kinds;
      for (const checks::CheckType* t : checks::AllCheckTypes()) {
        kinds.push_back(t->kind);
      }
      Error(where, "", absl::StrCat("one of ", absl::StrJoin(kinds, ", "), " is required"));
      return;
    }
    SpecErrorsAt spec_errors(errors_, where, type->kind);
    type->validate(c, &spec_errors);
  }

  void NotifiersAll() {
    std::map<std::string, int> names;
    for (int i = 0; i < config_.notifiers_size(); ++i) {
      const v1::Notifier& n = config_.notifiers(i);
      const std::string where = EntryLabel("notifiers", i, n.name());
      if (n.name().empty()) {
        Error(where, "name", "is required");
      }
      if (auto [it, ok] = names.emplace(n.name(), i); !ok && !n.name().empty()) {
        Error(where, "name",
              absl::StrCat("duplicate notifier name (first used by notifiers[", it->second, "])"));
      }
      switch (n.kind_case()) {
        case v1::Notifier::kWebhook:
          Url(where, "webhook.url", n.webhook().url(), {"http", "https"});
          break;
        case v1::Notifier::kAlertmanager:
          Url(where, "alertmanager.url", n.alertmanager().url(), {"http", "https"});
          break;
        case v1::Notifier::kEmail:
          Email(where, n.email());
          break;
        case v1::Notifier::KIND_NOT_SET:
          Error(where, "", "one of webhook, email, alertmanager is required");
      }
    }
    for (int i = 0; i < config_.notifiers_size(); ++i) {
      const v1::Notifier& n = config_.notifiers(i);
      std::string where = absl::StrCat("notifiers[", i, "] \"", n.name(), "\"");
      if (n.has_repeat_every()) {
        PositiveDuration(where, "repeat_every", n.repeat_every());
      }
      if (n.has_escalate_after()) {
        PositiveDuration(where, "escalate_after", n.escalate_after());
      }
      if (n.has_heartbeat_every()) {
        PositiveDuration(where, "heartbeat_every", n.heartbeat_every());
      }
      if (n.has_escalate_after() != !n.escalate_to().empty()) {
        Error(where, n.has_escalate_after() ? "escalate_to" : "escalate_after",
              "escalate_after and escalate_to go together");
      }
      if (!n.escalate_to().empty() &&
          (names.count(n.escalate_to()) == 0 || n.escalate_to() == n.name())) {
        Error(absl::StrCat("notifiers[", i, "] \"", n.name(), "\""), "escalate_to",
              absl::StrCat("\"", n.escalate_to(), "\" is not another notifier's name"));
      }
    }
  }

  // Transport and credentials of an e-mail notifier: TLS unless said
  // otherwise, credentials never in the URL nor over optional TLS.
  void Email(const std::string& where, const v1::EmailNotifier& e) {
    Url(where, "email.smtp_url", e.smtp_url(), {"smtp", "smtps"});
    if (e.to().empty()) {
      Error(where, "email.to", "needs at least one address");
    }
    if (!e.tls().empty() && e.tls() != "required" && e.tls() != "optional") {
      Error(where, "email.tls", "must be required (the default) or optional");
    }
    const bool has_password = !e.password().empty() || !e.password_file().empty();
    if (!e.password().empty() && !e.password_file().empty()) {
      Error(where, "email.password", "give password or password_file, not both");
    }
    if (has_password != !e.username().empty()) {
      Error(where, e.username().empty() ? "email.username" : "email.password_file",
            "username and password (or password_file) go together");
    }
    if (!e.username().empty() && e.tls() == "optional") {
      Error(where, "email.tls",
            "optional TLS would send the credentials in clear text when STARTTLS is stripped;"
            " remove tls: optional");
    }
    ReadableFile(where, "email.password_file", e.password_file());
    ReadableFile(where, "email.ca_file", e.ca_file());
  }

  void ReadableFile(const std::string& where, const std::string& field, const std::string& path) {
    if (!path.empty() && access(path.c_str(), R_OK) != 0) {
      Error(where, field, absl::StrCat("cannot read \"", path, "\""));
    }
  }

  void Policy() {
    const v1::ProbePolicy& p = config_.probe_policy();
    auto networks = [this](const google::protobuf::RepeatedPtrField<std::string>& list,
                           const char* field) {
      for (int i = 0; i < list.size(); ++i) {
        if (absl::StatusOr<IpNetwork> n = ParseNetwork(list[i]); !n.ok()) {
          Error("", absl::StrCat("probe_policy.", field, "[", i, "]"),
                std::string(n.status().message()));
        }
      }
    };
    networks(p.deny_networks(), "deny_networks");
    networks(p.allow_networks(), "allow_networks");
  }

  void MaintenanceAll(const std::map<std::string, int>& checks) {
    std::set<std::string> services;
    for (const v1::Check& c : config_.checks()) {
      services.insert(c.service().empty() ? c.name() : c.service());
    }
    for (int i = 0; i < config_.maintenance_size(); ++i) {
      const v1::MaintenanceWindow& m = config_.maintenance(i);
      const std::string where = EntryLabel("maintenance", i, m.name());
      if (!m.has_start()) {
        Error(where, "start", "is required");
      }
      if (!m.has_end()) {
        Error(where, "end", "is required");
      }
      if (m.has_start() && m.has_end() &&
          google::protobuf::util::TimeUtil::TimestampToNanoseconds(m.end()) <=
              google::protobuf::util::TimeUtil::TimestampToNanoseconds(m.start())) {
        Error(where, "end", "must be after start");
      }
      for (int j = 0; j < m.services_size(); ++j) {
        if (services.count(m.services(j)) == 0) {
          Error(where, absl::StrCat("services[", j, "]"),
                absl::StrCat("no check has service \"", m.services(j), "\""));
        }
      }
      for (int j = 0; j < m.checks_size(); ++j) {
        if (checks.count(m.checks(j)) == 0) {
          Error(where, absl::StrCat("checks[", j, "]"),
                absl::StrCat("no check is named \"", m.checks(j), "\""));
        }
      }
    }
  }

  // status_page: every service it names has a check, each at most once.
  void StatusPageAll() {
    std::set<std::string> services;
    for (const v1::Check& c : config_.checks()) {
      services.insert(c.service().empty() ? c.name() : c.service());
    }
    std::set<std::string> seen;
    auto known = [&](const std::string& where, const std::string& field, const std::string& s) {
      if (services.count(s) == 0) {
        Error(where, field, absl::StrCat("no check has service \"", s, "\""));
      } else if (!seen.insert(s).second) {
        Error(where, field, absl::StrCat("service \"", s, "\" is named twice"));
      }
    };
    const v1::StatusPage& p = config_.status_page();
    for (int i = 0; i < p.groups_size(); ++i) {
      const v1::StatusPageGroup& g = p.groups(i);
      const std::string where = EntryLabel("status_page.groups", i, g.name());
      for (int j = 0; j < g.services_size(); ++j) {
        known(where, absl::StrCat("services[", j, "].service"), g.services(j).service());
      }
    }
    for (int i = 0; i < p.hidden_size(); ++i) {
      known("status_page", absl::StrCat("hidden[", i, "]"), p.hidden(i));
    }
  }

  void Detection() {
    const v1::DetectionConfig& d = config_.detection();
    const pb::Reflection* r = d.GetReflection();
    std::vector<const pb::FieldDescriptor*> set;
    r->ListFields(d, &set);
    for (int i = 0; i < d.GetDescriptor()->field_count(); ++i) {
      const pb::FieldDescriptor* f = d.GetDescriptor()->field(i);
      if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE &&
          detection_keys_.count(f->name()) > 0 &&
          std::find(set.begin(), set.end(), f) == set.end()) {
        set.push_back(f);  // an explicit 0
      }
    }
    for (const pb::FieldDescriptor* f : set) {
      std::string field = absl::StrCat("detection.", f->name());
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        const auto& dur = static_cast<const google::protobuf::Duration&>(r->GetMessage(d, f));
        PositiveDuration("", field, dur);
      } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32) {
        if (r->GetInt32(d, f) < 1 || r->GetInt32(d, f) > 1000) {
          Error("", field, "must be 1..1000");
        }
      } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE) {
        double v = r->GetDouble(d, f);
        bool percent = absl::EndsWith(f->name(), "_percent");
        bool factor = absl::EndsWith(f->name(), "_factor");
        if (percent && !(v > 0 && v <= 100)) {
          Error("", field, "must be in (0, 100]");
        }
        if (factor && !(v > 1 && v <= 1000)) {
          Error("", field, "must be above 1");
        }
        if (!percent && !factor && !(v > 0 && v <= 1)) {
          Error("", field, "must be a share in (0, 1]");
        }
      }
    }
  }

  void Url(const std::string& where, const std::string& field, const std::string& url,
           std::set<std::string> schemes) {
    auto u = ParseUrl(url);
    if (url.empty()) {
      Error(where, field, "is required");
    } else if (UrlHasUserinfo(url)) {
      // Not repeated: the error would put the password into logs.
      Error(where, field,
            field == "email.smtp_url"
                ? "credentials in the URL are refused: use email.username and "
                  "email.password_file"
                : "credentials in the URL are refused");
    } else if (!u.ok() || schemes.count(u->scheme) == 0) {
      Error(where, field,
            absl::StrCat("\"", url, "\" must be a ", absl::StrJoin(schemes, " or "), " URL"));
    }
  }

  const v1::Config& config_;
  ConfigErrors* errors_;
  const std::set<std::string> detection_keys_;
};

void ApplyDefaults(v1::Config* config) {
  v1::Defaults* defs = config->mutable_defaults();
  if (!defs->has_interval()) {
    SetDuration(absl::Seconds(30), defs->mutable_interval());
  }
  if (!defs->has_timeout()) {
    SetDuration(absl::Seconds(5), defs->mutable_timeout());
  }
  if (defs->slo_target() == 0) {
    defs->set_slo_target(99.9);
  }
  for (v1::Check& c : *config->mutable_checks()) {
    if (!c.has_interval()) {
      *c.mutable_interval() = defs->interval();
    }
    if (!c.has_timeout()) {
      SetDuration(std::min(ToDuration(defs->timeout()), ToDuration(c.interval())),
                  c.mutable_timeout());
    }
    if (c.service().empty()) {
      c.set_service(c.name());
    }
    if (c.regions().empty()) {
      *c.mutable_regions() = config->regions();
    }
    if (c.slo_target() == 0) {
      c.set_slo_target(defs->slo_target());
    }
    if (const checks::CheckType* type = checks::FindCheckType(c); type != nullptr) {
      type->apply_defaults(&c);
    }
  }
}

}  // namespace

absl::StatusOr<v1::Config> ParseConfig(const std::string& yaml_text, const std::string& filename) {
  absl::StatusOr<YamlDocument> doc = YamlDocument::Parse(yaml_text, filename);
  if (!doc.ok()) {
    return doc.status();
  }
  if (doc->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ": the file is empty"));
  }
  ConfigErrors errors(filename);
  const YamlDocument& document = *doc;
  errors.SetLineSource([&document](ConfigErrors* lines) {
    NoteYamlLines(document, v1::Config::descriptor(), lines);
  });
  v1::Config config;
  YamlToProto(document, &config, &errors);
  if (!errors.empty()) {
    return errors.ToStatus();
  }
  std::set<std::string> detection_keys;
  if (std::optional<YamlDocument::NodeId> d = document.Find(document.root(), "detection");
      d.has_value() && document.IsMapping(*d)) {
    for (size_t i = 0; i < document.size(*d); ++i) {
      detection_keys.emplace(document.scalar(document.key(*d, i)));
    }
  }
  Validator(config, &errors, std::move(detection_keys)).Run();
  if (!errors.empty()) {
    return errors.ToStatus();
  }
  ApplyDefaults(&config);
  // What the collector can send a region (docs/configuration.md, limits).
  if (absl::Status st = CheckConfigLimits(config, nullptr); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ": ", st.message()));
  }
  return config;
}

absl::StatusOr<v1::Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", strerror(errno)));
  }
  std::string text;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size > 0) {
    text.resize(static_cast<size_t>(size));
    in.read(text.data(), size);
    text.resize(static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) {
    return absl::UnavailableError(absl::StrCat(path, ": cannot read: ", strerror(errno)));
  }
  return ParseConfig(text, path);
}

std::vector<v1::Check> ChecksForRegion(const v1::Config& config, const std::string& region) {
  std::vector<v1::Check> out;
  for (const v1::Check& c : config.checks()) {
    if (c.regions().empty() ||
        std::find(c.regions().begin(), c.regions().end(), region) != c.regions().end()) {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace sonde::common
