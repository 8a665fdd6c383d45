#include "prober/uplink/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/proto_time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace sonde::prober {
namespace {

constexpr uint8_t kBatch = 1;
constexpr uint8_t kAck = 2;
constexpr size_t kHeader = 9;  // u32 length, u32 crc, u8 type
constexpr uint32_t kMaxRecord = 256u << 20;
// Segments may hold header secrets of checks (and config.pb beside them
// does): owner only.
constexpr mode_t kFileMode = 0600;

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    s->push_back(static_cast<char>(v >> (8 * i)));
  }
}
uint32_t GetU32(const unsigned char* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
}
// zlib's crc32() of the type byte and the payload (the format since the
// first spool), computed by ISA-L with carry-less multiplication: about a
// tenth of zlib's instructions per byte.
uint32_t Crc(uint8_t type, const char* data, size_t n) {
  return crc32_gzip_refl(crc32_gzip_refl(0, &type, 1), reinterpret_cast<const unsigned char*>(data),
                         n);
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

// A record whose header and checksum hold: its type and payload.
bool ReadRecord(int fd, uint64_t pos, uint64_t size, std::string* header, std::string* payload) {
  if (pos + kHeader > size || !ReadAll(fd, pos, kHeader, header)) {
    return false;
  }
  const auto* h = reinterpret_cast<const unsigned char*>(header->data());
  uint32_t len = GetU32(h);
  uint8_t type = h[8];
  if ((type != kBatch && type != kAck) || len > kMaxRecord || pos + kHeader + len > size) {
    return false;
  }
  if (type == kAck ? len != 8 : len == 0) {
    return false;
  }
  return ReadAll(fd, pos + kHeader, len, payload) &&
         GetU32(h + 4) == Crc(type, payload->data(), len);
}

// The offset of the first intact record after a bad one at `bad` (`size`
// when there is none). The bad record's own length is tried first (a
// flipped bit in its payload); then every offset, cheaply filtered: a batch
// record's payload starts with field 1 (prober_id), an ack's is 8 bytes.
// The checksums computed are bounded, so a damaged file cannot stall start.
uint64_t Resync(int fd, uint64_t bad, uint64_t size) {
  std::string header, payload;
  if (ReadAll(fd, bad, kHeader, &header)) {
    uint64_t next = bad + kHeader + GetU32(reinterpret_cast<const unsigned char*>(header.data()));
    if (next < size && ReadRecord(fd, next, size, &header, &payload)) {
      return next;
    }
  }
  uint64_t budget = 256ull << 20;  // bytes checksummed while searching
  std::string window;
  constexpr uint64_t kWindow = 1 << 20;
  for (uint64_t base = bad + 1; base + kHeader < size; base += kWindow) {
    uint64_t n = std::min<uint64_t>(kWindow + kHeader + 1, size - base);
    if (!ReadAll(fd, base, n, &window)) {
      return size;
    }
    const auto* w = reinterpret_cast<const unsigned char*>(window.data());
    for (uint64_t i = 0; i < std::min<uint64_t>(kWindow, n) && i + kHeader < n; ++i) {
      uint32_t len = GetU32(w + i);
      uint8_t type = w[i + 8];
      uint64_t at = base + i;
      bool plausible = type == kAck ? len == 8
                                    : type == kBatch && len > 0 && len <= kMaxRecord &&
                                          (i + kHeader >= n || w[i + kHeader] == 0x0A);
      if (!plausible || at + kHeader + len > size || len > budget) {
        continue;
      }
      budget -= len;
      if (ReadRecord(fd, at, size, &header, &payload)) {
        return at;
      }
    }
  }
  return size;
}

// The batch_seq a (possibly cut or damaged) batch payload names, from its
// first fields (prober_id, region, batch_seq are written first); 0 when it
// cannot be read.
uint64_t BatchSeqFromPrefix(const std::string& prefix) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(prefix.data()),
                                            static_cast<int>(prefix.size()));
  using WireFormat = google::protobuf::internal::WireFormatLite;
  while (uint32_t tag = in.ReadTag()) {
    int field = WireFormat::GetTagFieldNumber(tag);
    uint64_t v = 0;
    switch (WireFormat::GetTagWireType(tag)) {
      case WireFormat::WIRETYPE_VARINT:
        if (!in.ReadVarint64(&v)) {
          return 0;
        }
        if (field == 3) {
          return v;
        }
        break;
      case WireFormat::WIRETYPE_LENGTH_DELIMITED: {
        uint32_t n = 0;
        if (field > 2 || !in.ReadVarint32(&n) || !in.Skip(static_cast<int>(n))) {
          return 0;
        }
        break;
      }
      default:
        return 0;
    }
  }
  return 0;
}

// `first` then `second` written to `fd` with writev, short writes and EINTR
// retried (a spool record: its header and the batch from where it lies).
absl::Status WriteAll(int fd, absl::string_view first, absl::string_view second,
                      const std::string& what) {
  iovec iov[2] = {{const_cast<char*>(first.data()), first.size()},
                  {const_cast<char*>(second.data()), second.size()}};
  iovec* next = iov;
  int left = 2;
  size_t done = 0;  // bytes of `next` onwards already written
  while (true) {
    // Step over what went out (and empty parts).
    while (left > 0 && done >= next->iov_len) {
      done -= next->iov_len;
      ++next;
      --left;
    }
    if (left == 0) {
      return absl::OkStatus();
    }
    next->iov_base = static_cast<char*>(next->iov_base) + done;
    next->iov_len -= done;
    ssize_t n = writev(fd, next, left);
    if (n < 0 && errno == EINTR) {
      done = 0;
      continue;
    }
    if (n <= 0) {
      return Errno(what);
    }
    done = static_cast<size_t>(n);
  }
}

}  // namespace

absl::Status WriteAll(int fd, absl::string_view data, const std::string& what) {
  return WriteAll(fd, data, absl::string_view(), what);
}

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
  std::vector<Unreadable> unreadable;
  uint64_t seq_before = 0;  // the highest batch_seq (or ack watermark) read so far
  for (uint64_t number : numbers) {
    std::string path = SegmentPath(number);
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return Errno(absl::StrCat("opening ", path));
    }
    (void)fchmod(fd, kFileMode);  // segments of older versions were 0640
    struct stat st;
    fstat(fd, &st);
    uint64_t size = st.st_size, pos = 0;
    std::string header, payload;
    while (pos < size) {
      v1::ResultBatch batch;
      bool ok = ReadRecord(fd, pos, size, &header, &payload);
      uint8_t type = ok ? static_cast<uint8_t>(header[8]) : 0;
      if (ok && type == kBatch) {
        ok = batch.ParseFromString(payload);
      }
      if (ok) {
        uint32_t len = static_cast<uint32_t>(payload.size());
        if (type == kBatch) {
          batches.push_back(IndexBatch(batch.batch_seq(), MetaOf(batch),
                                       {batch.gaps().begin(), batch.gaps().end()}, number, pos,
                                       static_cast<uint32_t>(kHeader + len)));
          seq_before = std::max(seq_before, batch.batch_seq());
          if (!unreadable.empty() && unreadable.back().next_batch_seq == 0) {
            unreadable.back().next_batch_seq = batch.batch_seq();
            unreadable.back().next_start = batches.back().first_start;
          }
        } else {
          uint64_t seq = 0;
          memcpy(&seq, payload.data(), 8);
          acked_ = std::max(acked_, seq);
          seq_before = std::max(seq_before, seq);
        }
        pos += kHeader + len;
        continue;
      }
      // What can still be told about the bad record: an ack loses nothing;
      // a batch may name itself in its first bytes.
      Unreadable u;
      u.seq_before = seq_before;
      u.prev_start = batches.empty() ? absl::InfiniteFuture() : batches.back().first_start;
      if (pos + kHeader <= size && ReadAll(fd, pos, kHeader, &header)) {
        uint32_t len = GetU32(reinterpret_cast<const unsigned char*>(header.data()));
        u.ack = static_cast<uint8_t>(header[8]) == kAck && len == 8;
        std::string prefix;
        if (static_cast<uint8_t>(header[8]) == kBatch &&
            ReadAll(fd, pos + kHeader, std::min<uint64_t>({len, size - pos - kHeader, 4096}),
                    &prefix)) {
          u.named_seq = BatchSeqFromPrefix(prefix);
        }
      }
      uint64_t next = Resync(fd, pos, size);
      if (next >= size) {
        // Nothing readable follows: a record torn by a crash mid-write (the
        // segment then ends; the next run writes a new one). Cut it.
        spdlog::warn("spool: {}: torn record at offset {}; cutting {} bytes", path, pos,
                     size - pos);
        stats_.torn_tails++;
        stats_.unreadable_records++;
        if (ftruncate(fd, pos) != 0) {
          spdlog::error("spool: truncating {}: {}", path, strerror(errno));
        }
        size = pos;
      } else {
        // Damaged in the middle: the records after it are still good.
        spdlog::error("spool: {}: unreadable record at offset {} ({} bytes); reading on from {}",
                      path, pos, next - pos, next);
        stats_.unreadable_records++;
        pos = next;
      }
      unreadable.push_back(u);
    }
    close(fd);
    segments_.push_back({number, size});
  }
  for (const Unreadable& u : unreadable) {
    ReportUnreadable(u);
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
  active_fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, kFileMode);
  if (active_fd_ < 0) {
    return Errno(absl::StrCat("creating ", path));
  }
  // The new name must survive a crash as well as the data written under it.
  SyncDirectory();
  segments_.push_back({number, 0});
  // Each segment starts with the watermark, so deleting older ones loses nothing.
  if (acked_ > 0) {
    std::string p(8, '\0');
    memcpy(p.data(), &acked_, 8);
    return WriteRecord(kAck, p);
  }
  return absl::OkStatus();
}

absl::Status Spool::WriteRecord(uint8_t type, absl::string_view payload) {
  // The header from a small buffer and the payload from where it is: one
  // writev, no copy of the batch into a record.
  std::string head;
  head.reserve(kHeader);
  PutU32(&head, static_cast<uint32_t>(payload.size()));
  PutU32(&head, Crc(type, payload.data(), payload.size()));
  head.push_back(static_cast<char>(type));
  if (absl::Status st = WriteAll(active_fd_, head, payload, "spool write"); !st.ok()) {
    // Do not leave half a record behind: cut back to where it started.
    if (ftruncate(active_fd_, segments_.back().bytes) != 0) {
      spdlog::error("spool: cannot cut a partial record: {}", strerror(errno));
    }
    stats_.write_errors++;
    return st;
  }
  segments_.back().bytes += kHeader + payload.size();
  dirty_ = true;
  return absl::OkStatus();
}

absl::Status Spool::Append(EncodedBatch* batch) {
  const std::string& payload = batch->bytes;
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
  index_.push_back(IndexBatch(batch->batch_seq, batch->meta, batch->gaps, segments_.back().number,
                              offset, static_cast<uint32_t>(kHeader + payload.size())));
  stats_.appended_batches++;
  if (payload.size() <= options_.hold_bytes) {
    held_bytes_ += payload.size();
    held_.push_back({batch->batch_seq, std::move(batch->bytes)});
    while (held_bytes_ > options_.hold_bytes) {
      held_bytes_ -= held_.front().bytes.size();
      held_.pop_front();
    }
  }
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

Spool::Entry Spool::IndexBatch(uint64_t batch_seq, const ResultsMeta& meta,
                               std::vector<v1::Gap> gaps, uint64_t segment, uint64_t offset,
                               uint32_t length) {
  Entry e{batch_seq, segment, offset, length, meta.results, absl::InfiniteFuture(), 0, 0};
  if (meta.results > 0) {
    e.first_start = meta.first_start;
    e.first_seq = meta.first_seq;
    e.last_seq = meta.last_seq;
    max_result_seq_ = std::max(max_result_seq_, e.last_seq);
  }
  e.gaps = std::move(gaps);
  max_batch_seq_ = std::max(max_batch_seq_, batch_seq);
  return e;
}

void Spool::AddToGap(const Entry& e, v1::Gap* gap) {
  if (gap->first_batch_seq() == 0) {
    gap->set_first_batch_seq(e.batch_seq);
  }
  gap->set_last_batch_seq(e.batch_seq);
  gap->set_results(gap->results() + e.results);
  // A batch that only carried gaps has no time of its own.
  if (e.results > 0) {
    if (!gap->has_from()) {
      gap->mutable_from()->set_seconds(absl::ToUnixSeconds(e.first_start));
    }
    gap->mutable_to()->set_seconds(absl::ToUnixSeconds(e.first_start));
  }
}

void Spool::ReportUnreadable(const Unreadable& u) {
  if (u.ack) {
    return;  // an ack watermark: the next one says it again
  }
  const uint64_t prev = u.seq_before, next = u.next_batch_seq;
  uint64_t first = 0, last = 0;
  if (u.named_seq > prev && (next == 0 || u.named_seq < next)) {
    first = last = u.named_seq;  // the record's own words, between its neighbours
  } else if (next != 0) {
    if (prev != 0 && next <= prev + 1) {
      return;  // the neighbours are consecutive: no batch is missing
    }
    first = prev != 0 ? prev + 1 : next - 1;
    last = next - 1;
  } else if (prev != 0) {
    first = last = prev + 1;  // torn at the end of a run: its last batch
  } else {
    spdlog::error("spool: an unreadable record names no batch and has no neighbours");
    return;
  }
  if (last <= acked_) {
    return;  // acknowledged before it was damaged: nothing is lost
  }
  v1::Gap gap;
  gap.set_first_batch_seq(std::max(first, acked_ + 1));
  gap.set_last_batch_seq(last);
  // How many results it held is unknown (0); its time lies between the
  // neighbours'.
  const absl::Time from = u.prev_start != absl::InfiniteFuture() ? u.prev_start : u.next_start;
  const absl::Time to = u.next_start != absl::InfiniteFuture() ? u.next_start : u.prev_start;
  if (from != absl::InfiniteFuture()) {
    gap.mutable_from()->set_seconds(absl::ToUnixSeconds(from));
    gap.mutable_to()->set_seconds(absl::ToUnixSeconds(to));
  }
  spdlog::error("spool: batches {}..{} unreadable; reported to the collector as a gap",
                gap.first_batch_seq(), gap.last_batch_seq());
  gaps_.push_back(std::move(gap));
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
    AddToGap(e, &gap);
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
  // Its batches are gone from the index; held copies would never be asked for.
  DropHeld(index_.empty() ? max_batch_seq_ : index_.front().batch_seq - 1);
}

void Spool::DropHeld(uint64_t batch_seq) {
  while (!held_.empty() && held_.front().batch_seq <= batch_seq) {
    held_bytes_ -= held_.front().bytes.size();
    held_.pop_front();
  }
}

void Spool::Ack(uint64_t batch_seq) {
  if (batch_seq <= acked_) {
    return;
  }
  acked_ = batch_seq;
  while (!index_.empty() && index_.front().batch_seq <= acked_) {
    index_.pop_front();
  }
  DropHeld(acked_);
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

std::optional<EncodedBatch> Spool::NextEncoded(uint64_t after) {
  auto it = std::upper_bound(index_.begin(), index_.end(), after,
                             [](uint64_t v, const Entry& e) { return v < e.batch_seq; });
  while (it != index_.end()) {
    EncodedBatch batch;
    batch.batch_seq = it->batch_seq;
    batch.meta = {it->results, it->first_start, it->first_seq, it->last_seq};
    batch.gaps = it->gaps;
    // Held batches before this one were handed out already (or given up).
    DropHeld(it->batch_seq - 1);
    if (!held_.empty() && held_.front().batch_seq == it->batch_seq) {
      batch.bytes = std::move(held_.front().bytes);
      held_bytes_ -= batch.bytes.size();
      held_.pop_front();
      return batch;
    }
    std::string path = SegmentPath(it->segment);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::string header;
    bool ok = fd >= 0 && ReadRecord(fd, it->offset, it->offset + it->length, &header, &batch.bytes);
    if (fd >= 0) {
      close(fd);
    }
    if (ok) {
      return batch;
    }
    // Damaged since it was written (or the disk fails): the loss is known
    // exactly, and reported as a gap with the next batch.
    it = GiveUp(it, path);
  }
  return std::nullopt;
}

std::optional<v1::ResultBatch> Spool::Next(uint64_t after) {
  while (std::optional<EncodedBatch> e = NextEncoded(after)) {
    v1::ResultBatch batch;
    if (batch.ParseFromString(e->bytes)) {
      return batch;
    }
    auto it = std::lower_bound(index_.begin(), index_.end(), e->batch_seq,
                               [](const Entry& x, uint64_t v) { return x.batch_seq < v; });
    GiveUp(it, "its record");
  }
  return std::nullopt;
}

std::deque<Spool::Entry>::iterator Spool::GiveUp(std::deque<Entry>::iterator it,
                                                 const std::string& why) {
  spdlog::error("spool: cannot read back batch {} ({} results) from {}; reporting it as a gap",
                it->batch_seq, it->results, why);
  v1::Gap gap;
  AddToGap(*it, &gap);
  gaps_.push_back(std::move(gap));
  for (v1::Gap& g : it->gaps) {
    gaps_.push_back(std::move(g));
  }
  stats_.unreadable_records++;
  stats_.dropped_batches++;
  stats_.dropped_results += it->results;
  return index_.erase(it);
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
  if (active_fd_ >= 0 && dirty_ && fdatasync(active_fd_) != 0) {
    // The kernel may have dropped the pages it could not write: say so.
    stats_.sync_errors++;
    spdlog::error("spool: fdatasync {}: {}", SegmentPath(segments_.back().number), strerror(errno));
  }
  dirty_ = false;
  last_sync_ = absl::Now();
}

void Spool::SyncDirectory() {
  int fd = open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    stats_.sync_errors++;
    spdlog::error("spool: fsync of directory {}: {}", options_.dir, strerror(errno));
  }
  if (fd >= 0) {
    close(fd);
  }
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
