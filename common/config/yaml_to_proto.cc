#include "common/config/yaml_to_proto.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/result_json.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::common {
namespace {

namespace pb = google::protobuf;

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
  explicit YamlToJson(ConfigErrors* errors) : errors_(errors) {}

  // `where` labels a list element ("checks[3] \"app-tls\""); `field` is the
  // dotted path below it.
  std::string Message(const YAML::Node& node, const pb::Descriptor* d, const std::string& where,
                      const std::string& field) {
    NoteLine(where, field, node);
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
        NoteLine(where, sub, kv.first);
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
      NoteLine(where, sub, kv.second);
      if (out.size() > 1) {
        out += ",";
      }
      AppendJsonString(key, &out);
      absl::StrAppend(&out, ":", Field(kv.second, f, where, sub));
    }
    return out + "}";
  }

 private:
  void NoteLine(const std::string& where, const std::string& field, const YAML::Node& node) {
    errors_->NoteLine(where, field, node.Mark().line + 1);
  }

  static std::string Quoted(absl::string_view s) {
    std::string out;
    AppendJsonString(s, &out);
    return out;
  }

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
        AppendJsonString(kv.first.Scalar(), &out);
        absl::StrAppend(&out, ":",
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
    // A parsed number as JSON, or "0" after reporting that `s` is not `what`.
    auto number = [&](bool ok, auto v, const char* what) -> std::string {
      if (!ok) {
        errors_->Add(where, field, absl::StrCat("\"", s, "\" is not ", what));
        return "0";
      }
      return absl::StrCat(v);
    };
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING:
        return Quoted(s);
      case pb::FieldDescriptor::CPPTYPE_INT32:
      case pb::FieldDescriptor::CPPTYPE_INT64: {
        int64_t v = 0;
        const bool ok =
            absl::SimpleAtoi(s, &v) && (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_INT32 ||
                                        (v >= INT32_MIN && v <= INT32_MAX));
        return number(ok, v, "an integer");
      }
      case pb::FieldDescriptor::CPPTYPE_UINT32:
      case pb::FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v = 0;
        const bool ok = absl::SimpleAtoi(s, &v) &&
                        (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_UINT32 || v <= UINT32_MAX);
        return number(ok, v, "a non-negative integer");
      }
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT: {
        double v = 0;
        const bool ok = absl::SimpleAtod(s, &v);
        return number(ok, v, "a number");
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
        return Quoted(s);
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
    return Quoted(absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()));
  }

  ConfigErrors* errors_;
};

}  // namespace

absl::Status YamlToProto(const YAML::Node& root, google::protobuf::Message* out,
                         ConfigErrors* errors) {
  std::string json = YamlToJson(errors).Message(root, out->GetDescriptor(), "", "");
  if (!errors->empty()) {
    return absl::OkStatus();
  }
  google::protobuf::util::JsonParseOptions opts;
  auto st = google::protobuf::util::JsonStringToMessage(json, out, opts);
  if (!st.ok()) {
    return absl::InvalidArgumentError(st.ToString());
  }
  return absl::OkStatus();
}

}  // namespace sonde::common
