#include "common/config/yaml_document.h"

#include <yaml.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace sonde::common {
namespace {

// Owns one libyaml event; deleted before the next is parsed.
class Event {
 public:
  Event() = default;
  ~Event() { yaml_event_delete(&event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  yaml_event_t* get() { return &event_; }
  const yaml_event_t& operator*() const { return event_; }

 private:
  yaml_event_t event_{};
};

// Owns libyaml's parser reading from borrowed text.
class Parser {
 public:
  explicit Parser(absl::string_view text) {
    ok_ = yaml_parser_initialize(&parser_) != 0;
    if (ok_) {
      yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                   text.size());
    }
  }
  ~Parser() {
    if (ok_) {
      yaml_parser_delete(&parser_);
    }
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  bool ok() const { return ok_; }
  yaml_parser_t* get() { return &parser_; }

 private:
  yaml_parser_t parser_{};
  bool ok_ = false;
};

bool IsNullScalar(const yaml_event_t& e) {
  if (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
    return false;
  }
  const absl::string_view v(reinterpret_cast<const char*>(e.data.scalar.value),
                            e.data.scalar.length);
  return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

}  // namespace

// Turns events into nodes: an open collection's children wait on a stack
// (`pending_`) and move to children_ in one piece when it ends, so each
// collection's children are contiguous.
class YamlDocument::Builder {
 public:
  Builder(YamlDocument* doc, const std::string& filename) : doc_(doc), filename_(filename) {}

  absl::Status Run(absl::string_view text) {
    Parser parser(text);
    if (!parser.ok()) {
      return absl::ResourceExhaustedError(absl::StrCat(filename_, ": cannot start a YAML parser"));
    }
    bool document_ended = false;
    while (true) {
      Event event;
      if (yaml_parser_parse(parser.get(), event.get()) == 0) {
        return SyntaxError(*parser.get());
      }
      const yaml_event_t& e = *event;
      const uint32_t line = static_cast<uint32_t>(e.start_mark.line) + 1;
      absl::Status st;
      switch (e.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_NO_EVENT:
          break;
        case YAML_DOCUMENT_START_EVENT:
          if (document_ended) {
            return absl::OkStatus();  // the first document only
          }
          break;
        case YAML_DOCUMENT_END_EVENT:
          // What follows must still be YAML up to the next "---": stray
          // text after the root ("checks: []\n}") is a syntax error.
          document_ended = true;
          break;
        case YAML_STREAM_END_EVENT:
          return absl::OkStatus();
        case YAML_ALIAS_EVENT:
          st = Alias(reinterpret_cast<const char*>(e.data.alias.anchor), line);
          break;
        case YAML_SCALAR_EVENT: {
          const NodeId id = Add(IsNullScalar(e) ? Kind::kNull : Kind::kScalar, line, 1);
          Node& n = doc_->nodes_[id];
          n.begin = doc_->text_.size();
          n.size = static_cast<uint32_t>(e.data.scalar.length);
          doc_->text_.append(reinterpret_cast<const char*>(e.data.scalar.value),
                             e.data.scalar.length);
          Anchor(e.data.scalar.anchor, id);
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          const bool seq = e.type == YAML_SEQUENCE_START_EVENT;
          const NodeId id = Add(seq ? Kind::kSequence : Kind::kMapping, line, 1);
          open_.push_back({id, pending_.size()});
          Anchor(seq ? e.data.sequence_start.anchor : e.data.mapping_start.anchor, id);
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          st = Close(line);
          break;
      }
      if (!st.ok()) {
        return st;
      }
    }
  }

 private:
  struct Open {
    NodeId id;
    size_t first_pending;
  };

  // A new node (or, for an alias, `expanded` = the aliased node's size)
  // as the next child of the open collection, or as the root.
  NodeId Add(Kind kind, uint32_t line, uint64_t expanded) {
    const NodeId id = static_cast<NodeId>(doc_->nodes_.size());
    Node& n = doc_->nodes_.emplace_back();
    n.kind = kind;
    n.line = line;
    expanded_.push_back(expanded);
    if (!open_.empty()) {
      pending_.push_back(id);
    }
    return id;
  }

  void Anchor(const unsigned char* name, NodeId id) {
    if (name != nullptr) {
      anchors_[reinterpret_cast<const char*>(name)] = id;
    }
  }

  absl::Status Alias(const std::string& name, uint32_t line) {
    auto it = anchors_.find(name);
    if (it == anchors_.end()) {
      return Refused(line, absl::StrCat("alias *", name, " names no anchor defined before it"));
    }
    const NodeId target = it->second;
    for (const Open& o : open_) {
      if (o.id == target) {
        return Refused(line, absl::StrCat("alias *", name, " is inside the node it names"));
      }
    }
    pending_.push_back(target);
    alias_nodes_ += expanded_[target];
    if (alias_nodes_ > kMaxExpandedNodes) {
      return Refused(line, absl::StrCat("aliases expand to more than ", kMaxExpandedNodes,
                                        " nodes (a YAML bomb?)"));
    }
    return absl::OkStatus();
  }

  absl::Status Close(uint32_t line) {
    if (open_.empty()) {
      return Refused(line, "a collection ends that never started");
    }
    const Open o = open_.back();
    open_.pop_back();
    Node& n = doc_->nodes_[o.id];
    const size_t count = pending_.size() - o.first_pending;
    if (count > std::numeric_limits<uint32_t>::max()) {
      return Refused(line, "a collection with more than 4 billion entries");
    }
    n.begin = doc_->children_.size();
    n.size = static_cast<uint32_t>(count);
    uint64_t expanded = 1;
    for (size_t i = o.first_pending; i < pending_.size(); ++i) {
      expanded += expanded_[pending_[i]];
    }
    expanded_[o.id] = std::min<uint64_t>(expanded, kMaxExpandedNodes + 1);
    doc_->children_.insert(doc_->children_.end(), pending_.begin() + o.first_pending,
                           pending_.end());
    pending_.resize(o.first_pending);
    return absl::OkStatus();
  }

  absl::Status Refused(uint32_t line, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(filename_, ":", line, ": not valid YAML: ", what));
  }

  absl::Status SyntaxError(const yaml_parser_t& p) const {
    std::string what = p.problem != nullptr ? p.problem : "cannot be parsed";
    if (p.context != nullptr) {
      absl::StrAppend(&what, " (", p.context, " that starts on line ", p.context_mark.line + 1,
                      ")");
    }
    return Refused(static_cast<uint32_t>(p.problem_mark.line) + 1, what);
  }

  YamlDocument* const doc_;
  const std::string& filename_;
  std::vector<Open> open_;
  std::vector<NodeId> pending_;
  // Nodes a walk visits below each node, aliases expanded (capped).
  std::vector<uint64_t> expanded_;
  uint64_t alias_nodes_ = 0;  // nodes the aliases add
  absl::flat_hash_map<std::string, NodeId> anchors_;
};

absl::StatusOr<YamlDocument> YamlDocument::Parse(absl::string_view text,
                                                 const std::string& filename) {
  YamlDocument doc;
  doc.text_.reserve(text.size());  // scalars are rarely longer than their source
  if (absl::Status st = Builder(&doc, filename).Run(text); !st.ok()) {
    return st;
  }
  return doc;
}

std::optional<YamlDocument::NodeId> YamlDocument::Find(NodeId map, absl::string_view k) const {
  if (!IsMapping(map)) {
    return std::nullopt;
  }
  for (size_t i = 0; i < size(map); ++i) {
    if (IsScalar(key(map, i)) && scalar(key(map, i)) == k) {
      return value(map, i);
    }
  }
  return std::nullopt;
}

}  // namespace sonde::common
