#include "prober/uplink/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/proto_time.h"

namespace sonde::prober {
namespace {

constexpr uint8_t kBatch = 1;
constexpr uint8_t kAck = 2;
constexpr size_t kHeader = 9;  // u32 length, u32 crc, u8 type
constexpr uint32_t kMaxRecord = 256u << 20;

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    s->push_back(static_cast<char>(v >> (8 * i)));
  }
}
uint32_t GetU32(const unsigned char* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint32_t Crc(uint8_t type, const char* data, size_t n) {
  uLong crc = crc32(0L, &type, 1);
  return static_cast<uint32_t>(
      crc32(crc, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(n)));
}
absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}
bool ReadAll(int fd, uint64_t offset, size_t n, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, out->data() + done, n - done, offset + done);
    if (r <= 0) {
      return false;
    }
    done += r;
  }
  return true;
}
absl::Time StartOf(const v1::ProbeResult& r) { return common::ToTime(r.start_time()); }

}  // namespace

Spool::Spool(Options options) : options_(std::move(options)) {
  options_.segment_bytes =
      std::max<uint64_t>(4096, std::min(options_.segment_bytes, options_.max_bytes / 4));
}

Spool::~Spool() {
  if (active_fd_ >= 0) {
    Sync();
    close(active_fd_);
  }
}

std::string Spool::SegmentPath(uint64_t number) const {
  return absl::StrFormat("%s/seg-%020d.log", options_.dir, number);
}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(Options options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("spool directory ", options.dir, ": ", ec.message()));
  }
  std::unique_ptr<Spool> s(new Spool(std::move(options)));
  if (auto st = s->Recover(); !st.ok()) {
    return st;
  }
  return s;
}

absl::Status Spool::Recover() {
  DIR* d = opendir(options_.dir.c_str());
  if (d == nullptr) {
    return Errno(absl::StrCat("spool directory ", options_.dir));
  }
  std::vector<uint64_t> numbers;
  while (dirent* e = readdir(d)) {
    absl::string_view name(e->d_name);
    uint64_t n;
    if (absl::StartsWith(name, "seg-") && absl::EndsWith(name, ".log") &&
        absl::SimpleAtoi(name.substr(4, name.size() - 8), &n)) {
      numbers.push_back(n);
    }
  }
  closedir(d);
  std::sort(numbers.begin(), numbers.end());

  std::vector<Entry> batches;
  for (uint64_t number : numbers) {
    std::string path = SegmentPath(number);
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return Errno(absl::StrCat("opening ", path));
    }
    struct stat st;
    fstat(fd, &st);
    uint64_t size = st.st_size, pos = 0;
    std::string header, payload;
    while (pos < size) {
      bool ok = pos + kHeader <= size && ReadAll(fd, pos, kHeader, &header);
      uint32_t len = ok ? GetU32(reinterpret_cast<const unsigned char*>(header.data())) : 0;
      ok = ok && len <= kMaxRecord && pos + kHeader + len <= size &&
           ReadAll(fd, pos + kHeader, len, &payload);
      uint8_t type = ok ? static_cast<uint8_t>(header[8]) : 0;
      ok = ok && GetU32(reinterpret_cast<const unsigned char*>(header.data() + 4)) ==
                     Crc(type, payload.data(), payload.size());
      v1::ResultBatch batch;
      if (ok && type == kBatch) {
        ok = batch.ParseFromString(payload);
      }
      if (ok && type == kAck) {
        ok = payload.size() == 8;
      }
      if (!ok) {
        spdlog::warn("spool: {}: torn or corrupt record at offset {}; cutting {} bytes", path, pos,
                     size - pos);
        stats_.torn_tails++;
        if (ftruncate(fd, pos) != 0) {
          spdlog::error("spool: truncating {}: {}", path, strerror(errno));
        }
        size = pos;
        break;
      }
      if (type == kBatch) {
        batches.push_back(IndexBatch(batch, number, pos, static_cast<uint32_t>(kHeader + len)));
      } else if (type == kAck) {
        uint64_t seq = 0;
        memcpy(&seq, payload.data(), 8);
        acked_ = std::max(acked_, seq);
      }
      pos += kHeader + len;
    }
    close(fd);
    segments_.push_back({number, size});
  }
  for (const Entry& e : batches) {
    if (e.batch_seq > acked_) {
      index_.push_back(e);
    }
  }
  if (!index_.empty()) {
    spdlog::info("spool: {} unacked batches ({} segments) recovered from {}", index_.size(),
                 segments_.size(), options_.dir);
  }
  DeleteAckedSegments();
  uint64_t next = segments_.empty() ? 1 : segments_.back().number + 1;
  return OpenActive(next);
}

absl::Status Spool::OpenActive(uint64_t number) {
  if (active_fd_ >= 0) {
    Sync();
    close(active_fd_);
    active_fd_ = -1;
  }
  std::string path = SegmentPath(number);
  active_fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (active_fd_ < 0) {
    return Errno(absl::StrCat("creating ", path));
  }
  segments_.push_back({number, 0});
  // Each segment starts with the watermark, so deleting older ones loses nothing.
  if (acked_ > 0) {
    std::string p(8, '\0');
    memcpy(p.data(), &acked_, 8);
    return WriteRecord(kAck, p);
  }
  return absl::OkStatus();
}

absl::Status Spool::WriteRecord(uint8_t type, const std::string& payload) {
  std::string rec;
  rec.reserve(kHeader + payload.size());
  PutU32(&rec, static_cast<uint32_t>(payload.size()));
  PutU32(&rec, Crc(type, payload.data(), payload.size()));
  rec.push_back(static_cast<char>(type));
  rec += payload;
  size_t done = 0;
  while (done < rec.size()) {
    ssize_t n = write(active_fd_, rec.data() + done, rec.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      int err = errno;
      // Do not leave half a record behind: cut back to where it started.
      if (ftruncate(active_fd_, segments_.back().bytes) != 0) {
        spdlog::error("spool: cannot cut a partial record: {}", strerror(errno));
      }
      stats_.write_errors++;
      errno = err;
      return Errno("spool write");
    }
    done += n;
  }
  segments_.back().bytes += rec.size();
  dirty_ = true;
  return absl::OkStatus();
}

absl::Status Spool::Append(const v1::ResultBatch& batch) {
  std::string payload = batch.SerializeAsString();
  if (payload.size() > kMaxRecord) {
    return absl::InvalidArgumentError("batch too large to spool");
  }
  if (segments_.back().bytes > 0 &&
      segments_.back().bytes + payload.size() > options_.segment_bytes) {
    if (auto st = OpenActive(segments_.back().number + 1); !st.ok()) {
      return st;
    }
  }
  uint64_t offset = segments_.back().bytes;
  if (auto st = WriteRecord(kBatch, payload); !st.ok()) {
    return st;
  }
  index_.push_back(IndexBatch(batch, segments_.back().number, offset,
                              static_cast<uint32_t>(kHeader + payload.size())));
  stats_.appended_batches++;
  uint64_t total = 0;
  for (const Segment& s : segments_) {
    total += s.bytes;
  }
  while (total > options_.max_bytes && segments_.size() > 1) {
    total -= segments_.front().bytes;
    DropOldestSegment();
  }
  return absl::OkStatus();
}

Spool::Entry Spool::IndexBatch(const v1::ResultBatch& batch, uint64_t segment, uint64_t offset,
                               uint32_t length) {
  Entry e{
      batch.batch_seq(),      segment, offset, length, static_cast<uint32_t>(batch.results_size()),
      absl::InfiniteFuture(), 0,       0};
  if (batch.results_size() > 0) {
    e.first_start = StartOf(batch.results(0));
    e.first_seq = batch.results(0).seq();
    e.last_seq = batch.results(batch.results_size() - 1).seq();
    max_result_seq_ = std::max(max_result_seq_, e.last_seq);
  }
  e.gaps.assign(batch.gaps().begin(), batch.gaps().end());
  max_batch_seq_ = std::max(max_batch_seq_, batch.batch_seq());
  return e;
}

void Spool::DropOldestSegment() {
  uint64_t number = segments_.front().number;
  v1::Gap gap;
  // Gaps the dropped batches were carrying are still unreported: they go on
  // with the next batch, beside the new one.
  std::vector<v1::Gap> carried;
  while (!index_.empty() && index_.front().segment == number) {
    Entry& e = index_.front();
    for (v1::Gap& g : e.gaps) {
      carried.push_back(std::move(g));
    }
    if (gap.first_batch_seq() == 0) {
      gap.set_first_batch_seq(e.batch_seq);
    }
    gap.set_last_batch_seq(e.batch_seq);
    gap.set_results(gap.results() + e.results);
    // A batch that only carried gaps has no time of its own.
    if (e.results > 0) {
      if (!gap.has_from()) {
        gap.mutable_from()->set_seconds(absl::ToUnixSeconds(e.first_start));
      }
      gap.mutable_to()->set_seconds(absl::ToUnixSeconds(e.first_start));
    }
    stats_.dropped_batches++;
    stats_.dropped_results += e.results;
    index_.pop_front();
  }
  if (gap.results() > 0) {
    spdlog::error("spool: over its cap of {} bytes; dropped {} results (batches {}..{})",
                  options_.max_bytes, gap.results(), gap.first_batch_seq(), gap.last_batch_seq());
    carried.push_back(gap);
  }
  gaps_.insert(gaps_.end(), std::make_move_iterator(carried.begin()),
               std::make_move_iterator(carried.end()));
  unlink(SegmentPath(number).c_str());
  segments_.pop_front();
}

void Spool::Ack(uint64_t batch_seq) {
  if (batch_seq <= acked_) {
    return;
  }
  acked_ = batch_seq;
  while (!index_.empty() && index_.front().batch_seq <= acked_) {
    index_.pop_front();
  }
  std::string p(8, '\0');
  memcpy(p.data(), &acked_, 8);
  (void)WriteRecord(kAck, p);
  DeleteAckedSegments();
}

void Spool::DeleteAckedSegments() {
  // Segments older than the first unacked batch's segment hold nothing needed.
  uint64_t keep_from = index_.empty() ? UINT64_MAX : index_.front().segment;
  while (segments_.size() > 1 && segments_.front().number < keep_from) {
    unlink(SegmentPath(segments_.front().number).c_str());
    segments_.pop_front();
  }
}

std::optional<v1::ResultBatch> Spool::Next(uint64_t after) {
  auto it = std::upper_bound(index_.begin(), index_.end(), after,
                             [](uint64_t v, const Entry& e) { return v < e.batch_seq; });
  for (; it != index_.end(); ++it) {
    std::string path = SegmentPath(it->segment);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::string rec;
    bool ok = fd >= 0 && ReadAll(fd, it->offset, it->length, &rec);
    if (fd >= 0) {
      close(fd);
    }
    v1::ResultBatch batch;
    if (ok && batch.ParseFromArray(rec.data() + kHeader, static_cast<int>(rec.size() - kHeader))) {
      return batch;
    }
    spdlog::error("spool: cannot read back batch {} from {}; skipping it", it->batch_seq, path);
  }
  return std::nullopt;
}

std::vector<v1::Gap> Spool::TakeGaps() {
  std::vector<v1::Gap> out;
  out.swap(gaps_);
  return out;
}

void Spool::MaybeSync() {
  if (dirty_ && absl::Now() - last_sync_ >= options_.fsync_every) {
    Sync();
  }
}

void Spool::Sync() {
  if (active_fd_ >= 0 && dirty_) {
    fdatasync(active_fd_);
  }
  dirty_ = false;
  last_sync_ = absl::Now();
}

Spool::Stats Spool::stats() const {
  Stats s = stats_;
  for (const Segment& seg : segments_) {
    s.bytes += seg.bytes;
  }
  s.segments = segments_.size();
  s.unacked_batches = index_.size();
  for (const Entry& e : index_) {
    s.unacked_results += e.results;
    s.oldest_unacked = std::min(s.oldest_unacked, e.first_start);  // gap-only: infinite
  }
  return s;
}

}  // namespace sonde::prober
