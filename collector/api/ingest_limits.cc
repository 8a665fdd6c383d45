#include "collector/api/ingest_limits.h"

#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "google/protobuf/message.h"

namespace sonde::collector {
namespace {

namespace pb = google::protobuf;

constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr char kEllipsis[] = "\xE2\x80\xA6";  // U+2026, 3 bytes

// `text` cut to at most `max` bytes at a UTF-8 character boundary, ending
// with an ellipsis; false when it fits already.
bool Cut(std::string* text, size_t max) {
  if (text->size() <= max) {
    return false;
  }
  size_t end = max - (sizeof(kEllipsis) - 1);
  // Back off over continuation bytes (10xxxxxx) to a character start.
  while (end > 0 && (static_cast<unsigned char>((*text)[end]) & 0xC0) == 0x80) {
    --end;
  }
  text->resize(end);
  text->append(kEllipsis);
  return true;
}

// Caps every string and list of `m`, recursively; true when it changed.
bool CapMessage(pb::Message* m) {
  const pb::Reflection* r = m->GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  bool changed = false;
  for (const pb::FieldDescriptor* f : fields) {
    const size_t max_bytes = f->name() == "detail" ? kMaxDetailBytes : kMaxResultTextBytes;
    if (f->is_repeated()) {
      while (r->FieldSize(*m, f) > kMaxResultListItems) {
        r->RemoveLast(m, f);
        changed = true;
      }
    }
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          std::string v = r->GetRepeatedString(*m, f, i);
          if (Cut(&v, max_bytes)) {
            r->SetRepeatedString(m, f, i, std::move(v));
            changed = true;
          }
        }
      } else {
        std::string v = r->GetString(*m, f);
        if (Cut(&v, max_bytes)) {
          r->SetString(m, f, std::move(v));
          changed = true;
        }
      }
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          changed |= CapMessage(r->MutableRepeatedMessage(m, f, i));
        }
      } else {
        changed |= CapMessage(r->MutableMessage(m, f));
      }
    }
  }
  return changed;
}

}  // namespace

absl::Status ValidateGaps(const v1::ResultBatch& batch) {
  const std::string who =
      absl::StrCat("batch ", batch.batch_seq(), " from prober \"", batch.prober_id(), "\"");
  if (batch.gaps_size() > kMaxGapsPerBatch) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": ", batch.gaps_size(), " gaps, at most ",
                                                   kMaxGapsPerBatch, " are accepted per batch"));
  }
  for (int i = 0; i < batch.gaps_size(); ++i) {
    const v1::Gap& g = batch.gaps(i);
    const std::string gap = absl::StrCat(who, ": gaps[", i, "]");
    if (g.first_batch_seq() > kMaxInt64 || g.last_batch_seq() > kMaxInt64 ||
        g.results() > kMaxInt64) {
      return absl::InvalidArgumentError(
          absl::StrCat(gap, ": batch numbers and results must be below 2^63"));
    }
    if (g.first_batch_seq() > g.last_batch_seq()) {
      return absl::InvalidArgumentError(absl::StrCat(gap, ": first_batch_seq ", g.first_batch_seq(),
                                                     " is after last_batch_seq ",
                                                     g.last_batch_seq()));
    }
    if (!common::IsValidTimestamp(g.from()) || !common::IsValidTimestamp(g.to())) {
      return absl::InvalidArgumentError(
          absl::StrCat(gap, ": from and to must be times in 0001-01-01..9999-12-31 (from ",
                       g.from().seconds(), " s, to ", g.to().seconds(), " s)"));
    }
    if (common::ToTime(g.from()) > common::ToTime(g.to())) {
      return absl::InvalidArgumentError(absl::StrCat(gap, ": from is after to"));
    }
  }
  return absl::OkStatus();
}

Refusals RefuseResults(v1::ResultBatch* batch, absl::Time now, absl::Duration max_future_skew) {
  Refusals refused;
  const absl::Time latest = now + max_future_skew;
  auto* results = batch->mutable_results();
  int kept = 0;
  for (int i = 0; i < results->size(); ++i) {
    const v1::ProbeResult& r = results->Get(i);
    if (!common::IsValidTimestamp(r.start_time())) {
      ++refused.time_range;
      continue;
    }
    if (common::ToTime(r.start_time()) > latest) {
      ++refused.future;
      continue;
    }
    if (kept != i) {
      results->SwapElements(kept, i);
    }
    ++kept;
  }
  // The refused ones (and their details) are freed now, not when the
  // stream's batch object is next reused.
  while (results->size() > kept) {
    results->RemoveLast();
  }
  return refused;
}

int CapResultText(v1::ResultBatch* batch) {
  int cut = 0;
  for (v1::ProbeResult& r : *batch->mutable_results()) {
    // Nothing in a result this small can be over a cap that matters.
    if (r.ByteSizeLong() <= kMaxResultTextBytes) {
      continue;
    }
    if (CapMessage(&r)) {
      ++cut;
    }
  }
  return cut;
}

StreamCap::Slot& StreamCap::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (cap_ != nullptr) {
      cap_->Give(identity_);
    }
    cap_ = std::exchange(other.cap_, nullptr);
    identity_ = std::move(other.identity_);
  }
  return *this;
}

StreamCap::Slot::~Slot() {
  if (cap_ != nullptr) {
    cap_->Give(identity_);
  }
}

StreamCap::Slot StreamCap::Take(const std::string& identity) {
  absl::MutexLock l(&mu_);
  int& n = open_[identity];
  if (n >= max_) {
    return Slot();
  }
  ++n;
  return Slot(this, identity);
}

void StreamCap::Give(const std::string& identity) {
  absl::MutexLock l(&mu_);
  auto it = open_.find(identity);
  if (it != open_.end() && --it->second <= 0) {
    open_.erase(it);
  }
}

}  // namespace sonde::collector
