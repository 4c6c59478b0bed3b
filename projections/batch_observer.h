// BatchObserver: a component that acts on each batch a projector folds, around the fold and
// ahead of the commit (the policy reactor appends the decisions its view took).
//
// Thread safety: the projector calls it from its own thread only, one call at a time.
#pragma once

#include "absl/status/status.h"

namespace perfledger::projections {

class BatchObserver {
 public:
  virtual ~BatchObserver() = default;

  // Called as each batch starts, once its payloads are parsed and ahead of its fold into the
  // views. A batch that is retried (see BeforeCommit) is announced again.
  virtual void OnBatchStart() = 0;

  // Called after a batch was folded, ahead of any commit of its rows and checkpoint (at once
  // when folding batch by batch, with the batches around it in bulk folding). OK lets the
  // commit go on. An error discards the batch, and in bulk folding every batch not committed
  // yet: UNAVAILABLE retries from the last commit after a pause, any other error stops the
  // projector. What the observer does here therefore happens at least once per event, and
  // always ahead of the checkpoint that covers the event.
  virtual absl::Status BeforeCommit() = 0;

  // Whether the projector may fold in bulk (ProjectorOptions::bulk_lag_events) while this
  // observer watches. In bulk folding a batch's rows and checkpoint are committed long after
  // its BeforeCommit, together with many other batches; an observer that needs each batch
  // committed right after it acted (and readers that it paces to see that commit) answers
  // false, and its projector folds batch by batch however far behind it is.
  virtual bool AllowsBulk() const = 0;
};

}  // namespace perfledger::projections
