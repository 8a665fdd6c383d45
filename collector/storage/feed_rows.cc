#include "collector/storage/feed_rows.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "collector/cluster/shards.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/utf8.h"

namespace sonde::collector {
namespace {

// What a batch holds of one shard.
struct ShardSlice {
  int64_t results = 0;
  int64_t first_seq = std::numeric_limits<int64_t>::max();
  int64_t last_seq = std::numeric_limits<int64_t>::min();
  absl::Time from = absl::InfiniteFuture();
  absl::Time to = absl::InfinitePast();
  absl::flat_hash_set<std::string> checks;
};

void AppendArrayElement(absl::string_view element, std::string* array) {
  if (array->size() > 1) {
    array->push_back(',');
  }
  array->append(element.data(), element.size());
}

}  // namespace

std::string FeedRowsCte(int prober, int region, int first) {
  return absl::Substitute(
      "feed AS (INSERT INTO result_feed (shard, prober_id, region, first_seq, last_seq,"
      " from_time, to_time, results, checks, complete_before)"
      " SELECT u.s, $$$0::text, $$$1::text, u.a, u.z, u.f, u.t, u.n, u.k::text[],"
      " NULLIF($$$9, '')::timestamptz FROM batch"
      " CROSS JOIN unnest($$$2::smallint[], $$$3::bigint[], $$$4::bigint[],"
      " $$$5::timestamptz[], $$$6::timestamptz[], $$$7::integer[], $$$8::text[])"
      " AS u(s, a, z, f, t, n, k))",
      prober, region, first, first + 1, first + 2, first + 3, first + 4, first + 5, first + 6,
      first + 7);
}

std::vector<std::string> FeedRowParams(const v1::ResultBatch& batch) {
  std::array<ShardSlice, cluster::kShardCount> slices;
  for (const v1::ProbeResult& r : batch.results()) {
    ShardSlice& s = slices[cluster::ShardOf(r)];
    const int64_t seq = static_cast<int64_t>(r.seq());
    const absl::Time start = StartTime(r);
    ++s.results;
    s.first_seq = std::min(s.first_seq, seq);
    s.last_seq = std::max(s.last_seq, seq);
    s.from = std::min(s.from, start);
    s.to = std::max(s.to, start);
    if (IsCleanUtf8(r.check_id())) {
      s.checks.insert(r.check_id());
    } else {
      s.checks.insert(SanitizeUtf8(r.check_id()));
    }
  }
  std::string shards = "{", firsts = "{", lasts = "{", froms = "{", tos = "{", counts = "{";
  pg::ArrayLiteral checks;
  for (int shard = 0; shard < cluster::kShardCount; ++shard) {
    const ShardSlice& s = slices[shard];
    if (s.results == 0) {
      continue;
    }
    AppendArrayElement(absl::StrCat(shard), &shards);
    AppendArrayElement(absl::StrCat(s.first_seq), &firsts);
    AppendArrayElement(absl::StrCat(s.last_seq), &lasts);
    AppendArrayElement(absl::StrCat("\"", PgTime(s.from), "\""), &froms);
    AppendArrayElement(absl::StrCat("\"", PgTime(s.to), "\""), &tos);
    AppendArrayElement(absl::StrCat(s.results), &counts);
    pg::ArrayLiteral ids;
    for (const std::string& id : s.checks) {
      ids.Add(id);
    }
    checks.Add(ids.Done());
  }
  return {shards + "}",
          firsts + "}",
          lasts + "}",
          froms + "}",
          tos + "}",
          counts + "}",
          checks.Done(),
          batch.has_complete_before() ? PgTime(common::ToTime(batch.complete_before())) : ""};
}

}  // namespace sonde::collector
