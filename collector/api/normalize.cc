#include "collector/api/normalize.h"

#include "common/result_class.h"

namespace sonde::collector {

int NormalizeBatch(v1::ResultBatch* batch) {
  int changed = 0;
  for (v1::ProbeResult& r : *batch->mutable_results()) {
    // The stream's proven identity, not what each result claims.
    r.set_prober_id(batch->prober_id());
    r.set_region(batch->region());
    if (common::NormalizeResultClass(&r)) {
      ++changed;
    }
  }
  return changed;
}

}  // namespace sonde::collector
