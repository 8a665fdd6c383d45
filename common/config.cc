#include "common/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/checks/registry.h"
#include "common/flags.h"
#include "common/net.h"
#include "common/proto_time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "yaml-cpp/yaml.h"

namespace sonde::common {
namespace {

namespace pb = google::protobuf;

// Collects errors as "file:line: where: field: message".
class ErrorList {
 public:
  explicit ErrorList(std::string filename) : filename_(std::move(filename)) {}

  void Add(const std::string& where, const std::string& field, const std::string& msg) {
    std::string out = filename_;
    auto line = lines_.find(Key(where, field));
    if (line == lines_.end()) {
      line = lines_.find(Key(where, ""));
    }
    if (line != lines_.end()) {
      absl::StrAppend(&out, ":", line->second);
    }
    if (!where.empty()) {
      absl::StrAppend(&out, ": ", where);
    }
    if (!field.empty()) {
      absl::StrAppend(&out, ": ", field);
    }
    absl::StrAppend(&out, ": ", msg);
    errors_.push_back(std::move(out));
  }
  void NoteLine(const std::string& where, const std::string& field, const YAML::Node& node) {
    if (node.Mark().line >= 0) {
      lines_.emplace(Key(where, field), node.Mark().line + 1);
    }
  }
  bool empty() const { return errors_.empty(); }
  absl::Status ToStatus() const {
    if (errors_.empty()) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }

 private:
  static std::string Key(const std::string& where, const std::string& field) {
    return absl::StrCat(where, "|", field);
  }
  std::string filename_;
  std::map<std::string, int> lines_;
  std::vector<std::string> errors_;
};

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string Join(const std::string& field, const std::string& sub) {
  return field.empty() ? sub : absl::StrCat(field, ".", sub);
}

// Walks YAML alongside a message descriptor and writes proto3 JSON.
class YamlToJson {
 public:
  explicit YamlToJson(ErrorList* errors) : errors_(errors) {}

  // `where` labels a list element ("checks[3] \"app-tls\""); `field` is the
  // dotted path below it.
  std::string Message(const YAML::Node& node, const pb::Descriptor* d, const std::string& where,
                      const std::string& field) {
    errors_->NoteLine(where, field, node);
    if (d->full_name() == "google.protobuf.Duration") {
      return DurationValue(node, where, field);
    }
    if (d->full_name() == "google.protobuf.Timestamp") {
      return TimestampValue(node, where, field);
    }
    if (!node.IsMap()) {
      errors_->Add(where, field, "must be a mapping (key: value)");
      return "{}";
    }
    std::string out = "{";
    std::map<int, std::string> oneof_set;  // oneof index -> member name
    for (const auto& kv : node) {
      std::string key = kv.first.Scalar();
      const pb::FieldDescriptor* f = d->FindFieldByName(key);
      std::string sub = Join(field, key);
      if (f == nullptr) {
        errors_->NoteLine(where, sub, kv.first);
        errors_->Add(where, sub, absl::StrCat("unknown field \"", key, "\"", Suggest(d, key)));
        continue;
      }
      if (kv.second.IsNull()) {
        continue;  // "key:" with no value means unset
      }
      if (const pb::OneofDescriptor* o = f->containing_oneof(); o != nullptr) {
        auto [it, inserted] = oneof_set.emplace(o->index(), key);
        if (!inserted) {
          errors_->Add(where, sub,
                       absl::StrCat("only one of ", OneofNames(o), " may be set (\"", it->second,
                                    "\" is set too)"));
          continue;
        }
      }
      errors_->NoteLine(where, sub, kv.second);
      if (out.size() > 1) {
        out += ",";
      }
      absl::StrAppend(&out, JsonQuote(key), ":", Field(kv.second, f, where, sub));
    }
    return out + "}";
  }

 private:
  static std::string OneofNames(const pb::OneofDescriptor* o) {
    std::vector<std::string> names;
    for (int i = 0; i < o->field_count(); ++i) {
      names.push_back(o->field(i)->name());
    }
    return absl::StrJoin(names, ", ");
  }

  static std::string Suggest(const pb::Descriptor* d, const std::string& key) {
    std::string best;
    size_t best_dist = 3;
    std::vector<std::string> all;
    for (int i = 0; i < d->field_count(); ++i) {
      const std::string& name = d->field(i)->name();
      all.push_back(name);
      size_t dist = EditDistance(key, name);
      if (dist < best_dist) {
        best_dist = dist;
        best = name;
      }
    }
    if (!best.empty()) {
      return absl::StrCat(" (did you mean \"", best, "\"?)");
    }
    return absl::StrCat(" (known fields: ", absl::StrJoin(all, ", "), ")");
  }

  std::string Field(const YAML::Node& node, const pb::FieldDescriptor* f, const std::string& where,
                    const std::string& field) {
    if (f->is_map()) {
      if (!node.IsMap()) {
        errors_->Add(where, field, "must be a mapping (key: value)");
        return "{}";
      }
      const pb::FieldDescriptor* value_field = f->message_type()->FindFieldByNumber(2);
      std::string out = "{";
      for (const auto& kv : node) {
        if (out.size() > 1) {
          out += ",";
        }
        absl::StrAppend(&out, JsonQuote(kv.first.Scalar()), ":",
                        Single(kv.second, value_field, where, Join(field, kv.first.Scalar())));
      }
      return out + "}";
    }
    if (f->is_repeated()) {
      if (!node.IsSequence()) {
        errors_->Add(where, field, "must be a list, e.g. [a, b]");
        return "[]";
      }
      std::string out = "[";
      for (size_t i = 0; i < node.size(); ++i) {
        if (i > 0) {
          out += ",";
        }
        std::string elem_where = where, elem_field = absl::StrCat(field, "[", i, "]");
        // Top-level lists of named things get labels: checks[3] "app-tls".
        if (where.empty() && f->message_type() != nullptr) {
          elem_where = absl::StrCat(field, "[", i, "]");
          if (node[i].IsMap() && node[i]["name"] && node[i]["name"].IsScalar()) {
            absl::StrAppend(&elem_where, " \"", node[i]["name"].Scalar(), "\"");
          }
          elem_field = "";
        }
        out += Single(node[i], f, elem_where, elem_field);
      }
      return out + "]";
    }
    return Single(node, f, where, field);
  }

  std::string Single(const YAML::Node& node, const pb::FieldDescriptor* f, const std::string& where,
                     const std::string& field) {
    if (f->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
      return Message(node, f->message_type(), where, field);
    }
    if (!node.IsScalar()) {
      errors_->Add(where, field, "must be a single value, not a list or mapping");
      return "null";
    }
    const std::string& s = node.Scalar();
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING:
        return JsonQuote(s);
      case pb::FieldDescriptor::CPPTYPE_INT32:
      case pb::FieldDescriptor::CPPTYPE_INT64: {
        int64_t v;
        if (!absl::SimpleAtoi(s, &v) || (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32 &&
                                         (v < INT32_MIN || v > INT32_MAX))) {
          errors_->Add(where, field, absl::StrCat("\"", s, "\" is not an integer"));
          return "0";
        }
        return absl::StrCat(v);
      }
      case pb::FieldDescriptor::CPPTYPE_UINT32:
      case pb::FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v;
        if (!absl::SimpleAtoi(s, &v) ||
            (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT32 && v > UINT32_MAX)) {
          errors_->Add(where, field, absl::StrCat("\"", s, "\" is not a non-negative integer"));
          return "0";
        }
        return absl::StrCat(v);
      }
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT: {
        double v;
        if (!absl::SimpleAtod(s, &v)) {
          errors_->Add(where, field, absl::StrCat("\"", s, "\" is not a number"));
          return "0";
        }
        return absl::StrCat(v);
      }
      case pb::FieldDescriptor::CPPTYPE_BOOL: {
        std::string l = absl::AsciiStrToLower(s);
        if (l == "true" || l == "yes" || l == "on") {
          return "true";
        }
        if (l == "false" || l == "no" || l == "off") {
          return "false";
        }
        errors_->Add(where, field, absl::StrCat("\"", s, "\" is not true or false"));
        return "false";
      }
      case pb::FieldDescriptor::CPPTYPE_ENUM:
        if (f->enum_type()->FindValueByName(s) == nullptr) {
          errors_->Add(where, field, absl::StrCat("\"", s, "\" is not a known value"));
          return "0";
        }
        return JsonQuote(s);
      default:
        errors_->Add(where, field, "unsupported field type");
        return "null";
    }
  }

  std::string DurationValue(const YAML::Node& node, const std::string& where,
                            const std::string& field) {
    if (!node.IsScalar()) {
      errors_->Add(where, field, "must be a duration such as 10s, 5m, 1h");
      return "\"0s\"";
    }
    auto d = ParseDuration(node.Scalar());
    if (!d.ok()) {
      errors_->Add(where, field, std::string(d.status().message()));
      return "\"0s\"";
    }
    int64_t secs = absl::IDivDuration(*d, absl::Seconds(1), &*d);
    int64_t nanos = absl::ToInt64Nanoseconds(*d);
    if (nanos == 0) {
      return absl::StrCat("\"", secs, "s\"");
    }
    return absl::StrCat("\"", secs, ".", absl::Dec(nanos, absl::kZeroPad9), "s\"");
  }

  // RFC 3339 ("2026-11-21T22:00:00Z", "2026-11-21T23:00:00+01:00").
  std::string TimestampValue(const YAML::Node& node, const std::string& where,
                             const std::string& field) {
    absl::Time t;
    std::string err;
    if (!node.IsScalar() || !absl::ParseTime(absl::RFC3339_full, node.Scalar(), &t, &err)) {
      errors_->Add(where, field, "must be an RFC 3339 time such as 2026-11-21T22:00:00Z");
      return "\"1970-01-01T00:00:00Z\"";
    }
    return JsonQuote(absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()));
  }

  ErrorList* errors_;
};

const std::regex& NameRe() {
  static const std::regex re("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$");
  return re;
}

// Hands a check type's spec errors to the list, under the check's label and
// the kind prefix ("http.url").
class SpecErrorsAt : public checks::SpecErrors {
 public:
  SpecErrorsAt(ErrorList* errors, std::string where, std::string kind)
      : errors_(errors), where_(std::move(where)), kind_(std::move(kind)) {}
  void Add(const std::string& field, const std::string& message) override {
    errors_->Add(where_, absl::StrCat(kind_, ".", field), message);
  }

 private:
  ErrorList* errors_;
  std::string where_;
  std::string kind_;
};

class Validator {
 public:
  // `detection_keys`: the keys the YAML `detection:` block spells out. Proto3
  // reads an explicit 0 as unset; counted here, it is refused like any other
  // out-of-range value instead of silently meaning "the default".
  Validator(const v1::Config& c, ErrorList* e, std::set<std::string> detection_keys = {})
      : config_(c), errors_(e), detection_keys_(std::move(detection_keys)) {}

  void Run() {
    std::set<std::string> seen;
    for (int i = 0; i < config_.regions_size(); ++i) {
      const std::string& r = config_.regions(i);
      std::string f = absl::StrCat("regions[", i, "]");
      if (!std::regex_match(r, NameRe())) {
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
    MaintenanceAll(names);
    Detection();
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
    std::string where = absl::StrCat("checks[", i, "]");
    if (!c.name().empty()) {
      absl::StrAppend(&where, " \"", c.name(), "\"");
    }
    if (c.name().empty()) {
      Error(where, "name", "is required");
    } else if (!std::regex_match(c.name(), NameRe())) {
      Error(where, "name", "use letters, digits, '.', '_' and '-' (at most 128)");
    } else if (auto [it, inserted] = names->emplace(c.name(), i); !inserted) {
      Error(where, "name",
            absl::StrCat("duplicate check name (first used by checks[", it->second, "])"));
    }
    if (!c.service().empty() && !std::regex_match(c.service(), NameRe())) {
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
      std::string where = absl::StrCat("notifiers[", i, "]");
      if (!n.name().empty()) {
        absl::StrAppend(&where, " \"", n.name(), "\"");
      }
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
          Url(where, "email.smtp_url", n.email().smtp_url(), {"smtp", "smtps"});
          if (n.email().to().empty()) {
            Error(where, "email.to", "needs at least one address");
          }
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

  void MaintenanceAll(const std::map<std::string, int>& checks) {
    std::set<std::string> services;
    for (const v1::Check& c : config_.checks()) {
      services.insert(c.service().empty() ? c.name() : c.service());
    }
    for (int i = 0; i < config_.maintenance_size(); ++i) {
      const v1::MaintenanceWindow& m = config_.maintenance(i);
      std::string where = absl::StrCat("maintenance[", i, "]");
      if (!m.name().empty()) {
        absl::StrAppend(&where, " \"", m.name(), "\"");
      }
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
    } else if (!u.ok() || schemes.count(u->scheme) == 0) {
      Error(where, field,
            absl::StrCat("\"", url, "\" must be a ", absl::StrJoin(schemes, " or "), " URL"));
    }
  }

  const v1::Config& config_;
  ErrorList* errors_;
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
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  if (root.IsNull()) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ": the file is empty"));
  }
  ErrorList errors(filename);
  std::string json = YamlToJson(&errors).Message(root, v1::Config::descriptor(), "", "");
  if (!errors.empty()) {
    return errors.ToStatus();
  }
  v1::Config config;
  google::protobuf::util::JsonParseOptions opts;
  auto st = google::protobuf::util::JsonStringToMessage(json, &config, opts);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ": ", st.ToString()));
  }
  std::set<std::string> detection_keys;
  if (const YAML::Node& r = root; r.IsMap() && r["detection"] && r["detection"].IsMap()) {
    for (const auto& kv : r["detection"]) {
      detection_keys.insert(kv.first.Scalar());
    }
  }
  Validator(config, &errors, std::move(detection_keys)).Run();
  if (!errors.empty()) {
    return errors.ToStatus();
  }
  ApplyDefaults(&config);
  return config;
}

absl::StatusOr<v1::Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
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
