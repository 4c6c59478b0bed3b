// Every limit of perfledger in one place (TIGER_STYLE constants). A limit protects memory, the
// log or a consumer; each is checked where input enters and named in the error when exceeded.
#pragma once

#include <cstddef>
#include <cstdint>

namespace perfledger::limits {

// ---- identifiers and text (bytes, UTF-8)
inline constexpr size_t kIdBytesMax = 64;            // every *_id, idempotency keys
inline constexpr size_t kNameBytesMax = 200;         // names, titles, metric names, units
inline constexpr size_t kTextBytesMax = 4096;        // descriptions, notes, comments, reasons
inline constexpr size_t kCurrencyBytes = 3;          // ISO-4217
inline constexpr size_t kListItemsMax = 64;          // key results, dimensions, blockers, ...
inline constexpr size_t kGradesMax = 16;             // grades in a rating scale
// Distinct score dimensions the write model keeps per employee and cycle (what a dispute may
// name); later ones are not kept.
inline constexpr size_t kReviewDimensionsMax = 256;

// ---- numbers
inline constexpr int64_t kMoneyMinorMax = int64_t{1} << 50;   // ~1e15 minor units
inline constexpr uint32_t kBasisPointsMax = 10'000;           // 100 %
inline constexpr int64_t kScoreMilliMax = 1'000'000;          // 1000.000 points
inline constexpr int64_t kMetricMilliAbsMax = int64_t{1} << 52;
// Units behind one observation's rate (MetricObserved.denominator, e.g. parts inspected).
inline constexpr int64_t kMetricDenominatorMax = 1'000'000'000;
inline constexpr uint32_t kOkrGradeMilliMax = 1'000;

// ---- events and batches
inline constexpr size_t kEventBytesMax = 64 * 1024;           // serialized payload of one event
inline constexpr size_t kBatchEventsMax = 5'000;              // events in one atomic append
inline constexpr size_t kBatchBytesMax = 8 * 1024 * 1024;     // bytes in one atomic append
inline constexpr size_t kObservationsPerRequestMax = kBatchEventsMax;

// ---- the embedded log's group commit
inline constexpr size_t kGroupCommitEventsMax = 20'000;       // events in one synced write
inline constexpr size_t kGroupCommitBytesMax = 16 * 1024 * 1024;
inline constexpr size_t kAppendQueueDepthMax = 4'096;         // queued appends before pushback
// An idle committer wakes this often to serve its backend (group_commit.h, Sink::Idle).
inline constexpr int64_t kGroupCommitIdleMs = 100;
// A log that recovers on its own retries this often until it does or closes (Sink::Recover).
inline constexpr int64_t kLogRecoverRetryMs = 500;
// The log's store: one family per partition, all sharing one memtable budget and one block cache,
// so memory does not grow with the partition count. A family flushes at its own buffer size or
// when all memtables together reach the budget, whichever comes first.
inline constexpr size_t kLogWriteBufferBytes = 64 << 20;      // every family's memtables
inline constexpr size_t kLogFamilyWriteBufferBytes = 32 << 20;
inline constexpr size_t kLogBlockCacheBytes = 16 << 20;
// Write-ahead log kept before the families holding its oldest file flush (the control
// partition and the meta family are written rarely and would otherwise keep every file).
inline constexpr uint64_t kLogWalBytesMax = 512 << 20;

// ---- admission control (projections/backlog.h): how far the views may fall behind the log
inline constexpr uint64_t kViewBacklogEventsMax = 50'000;     // beyond it, new commands wait
inline constexpr uint32_t kViewBacklogWaitMillisMax = 5'000;  // then UNAVAILABLE

// ---- the state store (state_store.h): written without WAL, refolded from the log after a crash
inline constexpr uint32_t kStateFlushIntervalSeconds = 300;   // bounds what a crash refolds

// ---- a projector catching up on a long log (a rebuild, a replay, a fresh start) folds in bulk:
// rows stay in memory across batches and go to the store as SST files (projections/projector.h)
inline constexpr uint64_t kProjectorBulkLagEventsMin = 100'000;  // lag that starts bulk folding
inline constexpr size_t kProjectorBulkBytesMax = 64 << 20;       // folded row bytes per ingest
inline constexpr size_t kProjectorBulkBatchEvents = 16'384;      // events per batch in bulk
// A projector's batch of events lives on one protobuf arena: blocks grow from Min to Max.
inline constexpr size_t kProjectorArenaBlockBytesMin = 16 << 10;
inline constexpr size_t kProjectorArenaBlockBytesMax = 1 << 20;

// ---- the policy reactor's rows kept in memory between batches (projections/view.h RowCache)
inline constexpr size_t kReactorCachedRowsMax = 200'000;      // ~40 MB at most
// Events per reactor batch (projections/reactor.cc): under a metric feed a larger batch folds
// more observations of one aggregate or window row into one write.
inline constexpr size_t kReactorBatchEvents = 4'096;
// The reactor waits this long for more events before folding a batch smaller than
// kReactorLingerBelowEvents: nobody reads its rows with min_position, and a fuller batch reads
// and writes each aggregate and window row once for more observations.
inline constexpr int kReactorLingerMillis = 10;
inline constexpr size_t kReactorLingerBelowEvents = 1'024;

// ---- policy documents and the policy reactor (policy.h, policy_eval.h)
inline constexpr size_t kPolicyBytesMax = 48 * 1024;          // policy: source or canonical JSON
inline constexpr size_t kPolicyNodesMax = 20'000;             // parsed nodes (YAML aliases expand)
inline constexpr size_t kPolicyDepthMax = 32;                 // nesting of a policy document
inline constexpr uint32_t kPolicyDaysMax = 3'660;             // PIP length, windows, follow-ups
inline constexpr uint32_t kDisputeWindowBusinessDaysMax = 260; // disputes: about a year
inline constexpr uint32_t kPolicyStreakCyclesMax = 16;        // promotion: consecutive cycles
inline constexpr uint32_t kPolicyBonusBpMax = 240'000;        // bonus: 24 months of pay
inline constexpr uint32_t kPolicyCompaRatioBpMax = 100'000;   // merit matrix: compa-ratio 10x
inline constexpr size_t kRollingWindowSamplesMax = 8'192;     // samples kept per alert window
inline constexpr size_t kReactorAppendersMax = 32;            // reactions appended at once

// ---- the Kafka log (kafka_log.h)
inline constexpr size_t kKafkaRecordBytesMax = 1024 * 1024;   // one event as a Kafka record
inline constexpr size_t kKafkaTopicMessageBytesMax = 4 * 1024 * 1024;  // topic max.message.bytes
inline constexpr size_t kKafkaReadLanesMax = 4;               // consumer handles serving reads
inline constexpr size_t kKafkaPrefetchKbytes = 2 * 1024;      // prefetched bytes per read cursor
// The writer's transaction.timeout.ms as a multiple of append_timeout. The coordinator aborts a
// transaction older than that and bumps the producer epoch, which the writer would take for
// fencing; a group commit ends (or is given up) within append_timeout, so the coordinator never
// aborts a transaction the writer still considers open.
inline constexpr int kKafkaTransactionTimeoutFactor = 3;
// The broker's default transaction.max.timeout.ms: the largest transaction.timeout.ms it takes.
inline constexpr int64_t kKafkaTransactionTimeoutMaxMs = 15 * 60 * 1000;

// ---- memory of the folds
inline constexpr size_t kWriteModelCacheEntriesMax = 262'144;  // cached entities, then dropped

// ---- the key store of crypto-shredding (key_store.h)
inline constexpr size_t kKeyCacheEntriesMax = 100'000;  // unwrapped keys (~10 MB), then dropped

// ---- recognition and the case library (ledger/recognition.h, docs/RECOGNITION.md)
inline constexpr size_t kPraiseRecipientsMax = 6;             // people praised at once
inline constexpr size_t kPraiseValuesMax = 5;                 // value tags on one praise
inline constexpr size_t kPraiseValueBytesMax = 32;            // one tag: [a-z0-9-]
// Praise per giver in any rolling window, counted by the server's receive time: recognition
// that anyone can hand out without bound stops meaning anything (and floods the feed).
inline constexpr uint32_t kPraisePerGiverPerDayMax = 10;
inline constexpr int64_t kPraiseRateWindowSeconds = 24 * 3600;
inline constexpr size_t kCaseSubjectsMax = 8;                 // people one case is about
inline constexpr size_t kCaseEvidenceMax = 32;                // evidence ids, all kinds together
inline constexpr size_t kFeedScanRowsMax = 10'000;            // feed rows one page may examine

// ---- partitions
inline constexpr uint32_t kDataPartitionsDefault = 8;
inline constexpr uint32_t kDataPartitionsMax = 256;

// ---- reads and streams
inline constexpr uint32_t kReadLimitDefault = 1'000;
inline constexpr uint32_t kReadLimitMax = 10'000;
inline constexpr size_t kFollowBatchEvents = 512;             // events per wake-up of a follower
inline constexpr size_t kStreamBatchesMax = 1'000'000;        // batches in one client stream

// ---- hooks (ARCHITECTURE §7; services Hooks, projections/hooks.h)
inline constexpr uint32_t kHookRedeliverSecondsDefault = 30;  // unacknowledged → sent again
inline constexpr uint32_t kHookRedeliverSecondsMax = 3'600;
inline constexpr uint32_t kHookInFlightDefault = 256;         // sent, not yet acknowledged
inline constexpr uint32_t kHookInFlightMax = 10'000;
inline constexpr size_t kHookPollItemsMax = 512;              // items per wake-up of a stream
inline constexpr size_t kHookKindsMax = 8;                    // kinds in one subscription
// A read with consistency.min_position waits at most this long for the views (or the policy
// reactor) to apply those positions, then answers DEADLINE_EXCEEDED.
inline constexpr uint32_t kConsistencyWaitMillisMax = 10'000;
inline constexpr uint32_t kHookStartCatchUpMillisMax = 5'000;  // a new stream waits for the views
inline constexpr size_t kAckItemsMax = 1'000;                 // items in one Acknowledge call
inline constexpr size_t kConsumerReferenceBytesMax = 128;     // a consumer's id for an effect
inline constexpr size_t kHookCursorBytesMax = 8 * 1024;

// ---- audit (chain_audit.h, projections/audit.h)
inline constexpr size_t kAuditReadBatchEvents = 4'096;        // events per read of the verifier
inline constexpr uint64_t kAuditProgressEveryDefault = 100'000;
inline constexpr uint64_t kAuditProgressEveryMax = 10'000'000;
inline constexpr size_t kExplainStepsMax = 256;               // events in one explanation
inline constexpr size_t kExplainObservationsMax = 100;         // a metric input's first page
inline constexpr uint32_t kObservationsPageDefault = 1'000;    // Audit.ListObservations
inline constexpr uint32_t kObservationsPageMax = 10'000;
inline constexpr uint32_t kExplainDepthMax = 4;               // cause hops followed from an action

// ---- server
inline constexpr size_t kGrpcMessageBytesMax = 16 * 1024 * 1024;
inline constexpr int kShutdownGraceSeconds = 10;
// The longest a call waits for work it sets off inside the server (the caller's deadline may
// cut it shorter): FinalizeGrade computing the grade, the deadline scheduler firing what is
// due, a Policies call (ComputeGrades over a cycle, a dry run), the auditor's --replay-to.
inline constexpr int kComputedGradeWaitSeconds = 30;
inline constexpr int kDeadlineFireWaitSeconds = 30;
inline constexpr int kPolicyCallWaitSecondsMax = 600;
inline constexpr int kReplayWaitSecondsMax = 1'800;
inline constexpr size_t kTokensMax = 10'000;
inline constexpr size_t kTokenOrgUnitsMax = 64;               // org subtrees of one hr token

// ---- view queries (projections/queries.h, hook_queries.h, recognition_queries.h)
inline constexpr uint32_t kPageSizeDefault = 50;              // rows of a view page
inline constexpr uint32_t kPageSizeMax = 1'000;
inline constexpr uint32_t kGoalDepthMax = 16;                 // levels of a goal tree answer
inline constexpr size_t kGoalNodesMax = 10'000;               // nodes of a goal tree answer
// Rows one hook query may read, matching or not: bounds the work of a filtered page.
inline constexpr uint32_t kHookScanRowsMax = 10'000;
// Events one ReadEvents call may scan: a stream filter must not turn it into a full scan.
inline constexpr uint64_t kReadScanEventsMax = 1'000'000;
// How long Explain waits for the event index to catch up before answering NOT_FOUND.
inline constexpr uint32_t kIndexWaitMillisMax = 10'000;

// ---- state store (ledger/state_store.h)
inline constexpr size_t kStateBlockCacheBytes = 64 << 20;
inline constexpr size_t kStateWriteBufferBytes = 16 << 20;
// Every family's memtables together: a family's own limit alone lets a dozen busy families
// hold a dozen write buffers (atomic flush then writes them all at once).
inline constexpr size_t kStateWriteBuffersBytes = 96 << 20;
// Values at least this large go to blob files in a blob family (a stored envelope is ~400 B).
inline constexpr uint64_t kStateMinBlobBytes = 128;

// ---- access (access.h)
inline constexpr uint32_t kScopeDepthMax = 64;                // reporting-line and org-tree hops
// Aggregates shown outside HR hide groups smaller than this (configurable, never below the
// floor: a group of two lets each member subtract themselves and learn the other).
inline constexpr uint32_t kMinGroupSizeDefault = 5;
inline constexpr uint32_t kMinGroupSizeFloor = 3;
// How long an erased employee's compensation records are kept (SubjectErased.retained_until):
// ten years, the longest common statutory duty for payroll and accounting records (e.g.
// Germany's AO §147 and HGB §257); shorter regimes (three to six years in the UK and the US)
// set --retention-days lower. At most 100 years; 0 ends the retention with the erasure.
inline constexpr uint32_t kRetentionDaysDefault = 3'650;
inline constexpr uint32_t kRetentionDaysMax = 36'525;

static_assert(kMinGroupSizeFloor <= kMinGroupSizeDefault);
static_assert(kBatchEventsMax <= kGroupCommitEventsMax, "a batch must fit one group commit");
static_assert(kBatchBytesMax <= kGroupCommitBytesMax, "a batch must fit one group commit");
static_assert(kEventBytesMax * 2 <= kBatchBytesMax, "a batch holds at least two max events");
static_assert(kObservationsPerRequestMax <= kBatchEventsMax);
static_assert(kReadLimitDefault <= kReadLimitMax);
static_assert(kHookInFlightDefault <= kHookInFlightMax);
static_assert(2 * kAckItemsMax <= kBatchEventsMax, "an acknowledgement batch fits one append");
static_assert(kPolicyBytesMax + kTextBytesMax < kEventBytesMax,
              "a published policy (canonical JSON + comment) fits one event");
static_assert(kBatchBytesMax < kGrpcMessageBytesMax, "a max batch must fit one gRPC message");
static_assert(kPraisePerGiverPerDayMax >= 1);
static_assert(kPageSizeDefault <= kPageSizeMax);
static_assert(kPageSizeMax <= kHookScanRowsMax, "an unfiltered hook page fits one call's scan");
static_assert(kPageSizeMax <= kFeedScanRowsMax, "an unfiltered feed page fits one scan");
static_assert(kCaseEvidenceMax <= kListItemsMax);

}  // namespace perfledger::limits
