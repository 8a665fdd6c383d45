// YamlDocument: the first document of a YAML text as a flat, read-only tree
// of nodes, built from libyaml's event parser in one pass. Each node keeps
// its 1-based line for error messages; scalars keep their text, untyped
// (the proto walk in yaml_to_proto.h decides what a scalar means). A plain
// empty scalar and "~", "null", "Null", "NULL" are null, as YAML says.
// An alias shares the anchored node (its lines are the anchor's), so
// aliases cost no copies; a document whose aliases would expand to more
// than kMaxExpandedNodes beyond its own nodes is refused, as is an alias to
// an undefined anchor or to a node that contains the alias.
//
// Why flat and not yaml-cpp's node tree: a 100,000-check config is about a
// million nodes, which yaml-cpp holds as shared_ptr'd maps (hundreds of MB,
// seconds to build and free); here a node is 24 bytes in one vector and the
// text one string. Immutable after Parse; any thread may read it.
#ifndef SONDE_COMMON_CONFIG_YAML_DOCUMENT_H_
#define SONDE_COMMON_CONFIG_YAML_DOCUMENT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sonde::common {

class YamlDocument {
 public:
  using NodeId = uint32_t;
  enum class Kind : uint8_t { kNull, kScalar, kSequence, kMapping };

  // Nodes the aliases of one document may add when expanded (the walk
  // visits an aliased node once per alias): a bound on "billion laughs".
  static constexpr uint64_t kMaxExpandedNodes = 10'000'000;

  // Parses the first document of `text` (later documents are not read).
  // INVALID_ARGUMENT "filename:line: not valid YAML: ..." when it is not
  // YAML or breaks the alias rules above.
  static absl::StatusOr<YamlDocument> Parse(absl::string_view text, const std::string& filename);

  // No document, or a document that is null ("~").
  bool empty() const { return nodes_.empty() || kind(root()) == Kind::kNull; }
  NodeId root() const { return 0; }  // only when !empty()

  Kind kind(NodeId n) const { return nodes_[n].kind; }
  bool IsScalar(NodeId n) const { return kind(n) == Kind::kScalar; }
  bool IsNull(NodeId n) const { return kind(n) == Kind::kNull; }
  bool IsSequence(NodeId n) const { return kind(n) == Kind::kSequence; }
  bool IsMapping(NodeId n) const { return kind(n) == Kind::kMapping; }
  int line(NodeId n) const { return static_cast<int>(nodes_[n].line); }
  // A scalar's text; "" for any other node.
  absl::string_view scalar(NodeId n) const {
    const Node& x = nodes_[n];
    return x.kind == Kind::kScalar ? absl::string_view(text_).substr(x.begin, x.size)
                                   : absl::string_view();
  }
  // Items of a sequence, key/value pairs of a mapping, 0 for a scalar.
  size_t size(NodeId n) const {
    const Node& x = nodes_[n];
    if (x.kind == Kind::kSequence) {
      return x.size;
    }
    return x.kind == Kind::kMapping ? x.size / 2 : 0;
  }
  NodeId item(NodeId seq, size_t i) const { return children_[nodes_[seq].begin + i]; }
  NodeId key(NodeId map, size_t i) const { return children_[nodes_[map].begin + 2 * i]; }
  NodeId value(NodeId map, size_t i) const { return children_[nodes_[map].begin + 2 * i + 1]; }
  // The value of the first scalar key `k` of a mapping.
  std::optional<NodeId> Find(NodeId map, absl::string_view k) const;

 private:
  class Builder;
  struct Node {
    uint64_t begin = 0;  // scalar: offset in text_; collection: in children_
    uint32_t size = 0;   // scalar: bytes; collection: child ids (2 per pair)
    uint32_t line = 0;   // 1-based
    Kind kind = Kind::kNull;
  };

  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<NodeId> children_;
  std::string text_;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_CONFIG_YAML_DOCUMENT_H_
