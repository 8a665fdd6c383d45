#include "common/config/yaml_to_proto.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/flags.h"

namespace sonde::common {
namespace {

namespace pb = google::protobuf;
using NodeId = YamlDocument::NodeId;

// The range google.protobuf.Duration and Timestamp allow.
constexpr int64_t kMaxDurationSeconds = 315'576'000'000;
constexpr int64_t kMinTimestampSeconds = -62'135'596'800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253'402'300'799;  // 9999-12-31T23:59:59Z

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

// A YAML scalar as a number field's value: integers in range, finite
// doubles.
template <typename T>
bool ParseNumber(absl::string_view s, T* v) {
  if constexpr (std::is_floating_point_v<T>) {
    return absl::SimpleAtod(s, v) && std::isfinite(*v);
  } else {
    return absl::SimpleAtoi(s, v);
  }
}

// What a value of T must be, for the error.
template <typename T>
const char* NumberKind(T) {
  if constexpr (std::is_floating_point_v<T>) {
    return "a number";
  } else if constexpr (std::is_unsigned_v<T>) {
    return "a non-negative integer";
  } else {
    return "an integer";
  }
}

std::string Join(const std::string& field, absl::string_view sub) {
  return field.empty() ? std::string(sub) : absl::StrCat(field, ".", sub);
}

std::string OneofNames(const pb::OneofDescriptor* o) {
  std::vector<std::string> names;
  for (int i = 0; i < o->field_count(); ++i) {
    names.push_back(o->field(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

std::string Suggest(const pb::Descriptor* d, absl::string_view key) {
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

// Walks a YamlDocument alongside a message and sets its fields. With
// `errors` it reports problems; with `lines` it notes where each element
// and field is (NoteYamlLines); either may be null.
class Walk {
 public:
  Walk(const YamlDocument& doc, ConfigErrors* errors, ConfigErrors* lines)
      : doc_(doc), errors_(errors), lines_(lines) {}

  // `where` labels a list element ("checks[3] \"app-tls\""); `field` is the
  // dotted path below it.
  void Message(NodeId node, pb::Message* msg, const std::string& where, const std::string& field) {
    NoteLine(where, field, node);
    const pb::Descriptor* d = msg->GetDescriptor();
    if (d->well_known_type() == pb::Descriptor::WELLKNOWNTYPE_DURATION) {
      DurationValue(node, msg, where, field);
      return;
    }
    if (d->well_known_type() == pb::Descriptor::WELLKNOWNTYPE_TIMESTAMP) {
      TimestampValue(node, msg, where, field);
      return;
    }
    if (!doc_.IsMapping(node)) {
      Error(where, field, "must be a mapping (key: value)");
      return;
    }
    std::map<int, std::string> oneof_set;  // oneof index -> member name
    for (size_t i = 0; i < doc_.size(node); ++i) {
      const NodeId k = doc_.key(node, i);
      const NodeId v = doc_.value(node, i);
      const absl::string_view key = doc_.scalar(k);
      const pb::FieldDescriptor* f = d->FindFieldByName(std::string(key));
      const std::string sub = Join(field, key);
      if (f == nullptr) {
        NoteLine(where, sub, k);
        Error(where, sub, absl::StrCat("unknown field \"", key, "\"", Suggest(d, key)));
        continue;
      }
      if (doc_.IsNull(v)) {
        continue;  // "key:" with no value means unset
      }
      if (const pb::OneofDescriptor* o = f->containing_oneof(); o != nullptr) {
        auto [it, inserted] = oneof_set.emplace(o->index(), std::string(key));
        if (!inserted) {
          Error(where, sub,
                absl::StrCat("only one of ", OneofNames(o), " may be set (\"", it->second,
                             "\" is set too)"));
          continue;
        }
      }
      NoteLine(where, sub, v);
      Field(v, msg, f, where, sub);
    }
  }

 private:
  void NoteLine(const std::string& where, const std::string& field, NodeId node) {
    if (lines_ != nullptr) {
      lines_->NoteLine(where, field, doc_.line(node));
    }
  }
  void Error(const std::string& where, const std::string& field, const std::string& msg) {
    if (errors_ != nullptr) {
      errors_->Add(where, field, msg);
    }
  }

  void Field(NodeId node, pb::Message* msg, const pb::FieldDescriptor* f, const std::string& where,
             const std::string& field) {
    if (f->is_map()) {
      MapField(node, msg, f, where, field);
      return;
    }
    if (f->is_repeated()) {
      if (!doc_.IsSequence(node)) {
        Error(where, field, "must be a list, e.g. [a, b]");
        return;
      }
      for (size_t i = 0; i < doc_.size(node); ++i) {
        const NodeId item = doc_.item(node, i);
        std::string elem_where = where, elem_field = absl::StrCat(field, "[", i, "]");
        // Top-level lists of named things get labels: checks[3] "app-tls".
        if (where.empty() && f->message_type() != nullptr) {
          elem_where = std::move(elem_field);
          if (std::optional<NodeId> name = doc_.Find(item, "name");
              name.has_value() && doc_.IsScalar(*name)) {
            absl::StrAppend(&elem_where, " \"", doc_.scalar(*name), "\"");
          }
          elem_field = "";
        }
        Single(item, msg, f, elem_where, elem_field);
      }
      return;
    }
    Single(node, msg, f, where, field);
  }

  // map<K, V>: one entry per key; a key given twice is refused.
  void MapField(NodeId node, pb::Message* msg, const pb::FieldDescriptor* f,
                const std::string& where, const std::string& field) {
    if (!doc_.IsMapping(node)) {
      Error(where, field, "must be a mapping (key: value)");
      return;
    }
    const pb::FieldDescriptor* key_field = f->message_type()->FindFieldByNumber(1);
    const pb::FieldDescriptor* value_field = f->message_type()->FindFieldByNumber(2);
    std::set<absl::string_view> seen;
    for (size_t i = 0; i < doc_.size(node); ++i) {
      const absl::string_view key = doc_.scalar(doc_.key(node, i));
      const std::string sub = Join(field, key);
      if (!seen.insert(key).second) {
        NoteLine(where, sub, doc_.key(node, i));
        Error(where, sub, absl::StrCat("\"", key, "\" is given twice"));
        continue;
      }
      pb::Message* entry = msg->GetReflection()->AddMessage(msg, f);
      if (key_field->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING) {
        Error(where, sub, "unsupported field type");
        continue;
      }
      entry->GetReflection()->SetString(entry, key_field, std::string(key));
      Single(doc_.value(node, i), entry, value_field, where, sub);
    }
  }

  // One value of `f`: the field itself, or a new element when repeated.
  void Single(NodeId node, pb::Message* msg, const pb::FieldDescriptor* f, const std::string& where,
              const std::string& field) {
    const pb::Reflection* r = msg->GetReflection();
    const bool add = f->is_repeated();
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      Message(node, add ? r->AddMessage(msg, f) : r->MutableMessage(msg, f), where, field);
      return;
    }
    if (!doc_.IsScalar(node)) {
      Error(where, field, "must be a single value, not a list or mapping");
      return;
    }
    const absl::string_view s = doc_.scalar(node);
    auto not_a = [&](const char* what) {
      Error(where, field, absl::StrCat("\"", s, "\" is not ", what));
    };
    // A number of zero's type, parsed from `s`, then added or set.
    auto number = [&](auto zero, auto add_value, auto set_value) {
      decltype(zero) v = zero;
      if (!ParseNumber(s, &v)) {
        return not_a(NumberKind(zero));
      }
      (r->*(add ? add_value : set_value))(msg, f, v);
    };
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING:
        add ? r->AddString(msg, f, std::string(s)) : r->SetString(msg, f, std::string(s));
        return;
      case pb::FieldDescriptor::CPPTYPE_INT32:
        return number(int32_t{0}, &pb::Reflection::AddInt32, &pb::Reflection::SetInt32);
      case pb::FieldDescriptor::CPPTYPE_INT64:
        return number(int64_t{0}, &pb::Reflection::AddInt64, &pb::Reflection::SetInt64);
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        return number(uint32_t{0}, &pb::Reflection::AddUInt32, &pb::Reflection::SetUInt32);
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        return number(uint64_t{0}, &pb::Reflection::AddUInt64, &pb::Reflection::SetUInt64);
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
        return number(0.0, &pb::Reflection::AddDouble, &pb::Reflection::SetDouble);
      case pb::FieldDescriptor::CPPTYPE_BOOL: {
        const std::string l = absl::AsciiStrToLower(s);
        bool v;
        if (l == "true" || l == "yes" || l == "on") {
          v = true;
        } else if (l == "false" || l == "no" || l == "off") {
          v = false;
        } else {
          return not_a("true or false");
        }
        add ? r->AddBool(msg, f, v) : r->SetBool(msg, f, v);
        return;
      }
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* v = f->enum_type()->FindValueByName(std::string(s));
        if (v == nullptr) {
          return not_a("a known value");
        }
        add ? r->AddEnum(msg, f, v) : r->SetEnum(msg, f, v);
        return;
      }
      default:
        Error(where, field, "unsupported field type");
    }
  }

  // google.protobuf.Duration and Timestamp: seconds and nanos.
  static void SetSecondsNanos(pb::Message* msg, int64_t seconds, int32_t nanos) {
    const pb::Descriptor* d = msg->GetDescriptor();
    msg->GetReflection()->SetInt64(msg, d->FindFieldByNumber(1), seconds);
    msg->GetReflection()->SetInt32(msg, d->FindFieldByNumber(2), nanos);
  }

  void DurationValue(NodeId node, pb::Message* msg, const std::string& where,
                     const std::string& field) {
    if (!doc_.IsScalar(node)) {
      Error(where, field, "must be a duration such as 10s, 5m, 1h");
      return;
    }
    const std::string text(doc_.scalar(node));
    absl::StatusOr<absl::Duration> d = ParseDuration(text);
    if (!d.ok()) {
      Error(where, field, std::string(d.status().message()));
      return;
    }
    absl::Duration rest;
    const int64_t secs = absl::IDivDuration(*d, absl::Seconds(1), &rest);
    if (secs > kMaxDurationSeconds) {
      Error(where, field, absl::StrCat("duration \"", text, "\" is longer than 10000 years"));
      return;
    }
    SetSecondsNanos(msg, secs, static_cast<int32_t>(absl::ToInt64Nanoseconds(rest)));
  }

  // RFC 3339 ("2026-11-21T22:00:00Z", "2026-11-21T23:00:00+01:00").
  void TimestampValue(NodeId node, pb::Message* msg, const std::string& where,
                      const std::string& field) {
    absl::Time t;
    std::string err;
    int64_t secs = 0;
    if (!doc_.IsScalar(node) || !absl::ParseTime(absl::RFC3339_full, doc_.scalar(node), &t, &err) ||
        (secs = absl::ToUnixSeconds(t)) < kMinTimestampSeconds || secs > kMaxTimestampSeconds) {
      Error(where, field, "must be an RFC 3339 time such as 2026-11-21T22:00:00Z");
      return;
    }
    SetSecondsNanos(
        msg, secs, static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(secs))));
  }

  const YamlDocument& doc_;
  ConfigErrors* const errors_;
  ConfigErrors* const lines_;
};

}  // namespace

void YamlToProto(const YamlDocument& doc, google::protobuf::Message* out, ConfigErrors* errors) {
  Walk(doc, errors, nullptr).Message(doc.root(), out, "", "");
  if (!errors->empty()) {
    out->Clear();
  }
}

void NoteYamlLines(const YamlDocument& doc, const google::protobuf::Descriptor* type,
                   ConfigErrors* lines) {
  std::unique_ptr<pb::Message> scratch(
      pb::MessageFactory::generated_factory()->GetPrototype(type)->New());
  Walk(doc, nullptr, lines).Message(doc.root(), scratch.get(), "", "");
}

}  // namespace sonde::common
