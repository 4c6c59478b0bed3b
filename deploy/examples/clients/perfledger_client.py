"""Shared plumbing of the example clients: Python stubs from proto/, channels, bearer tokens.

The stubs are generated from the contract (proto/perfledger/v1/*.proto) with protoc and
grpc_python_plugin, never committed. The test build generates them into the build tree and
points PERFLEDGER_PY_STUBS at them; run by hand, the clients generate them on first use into
PERFLEDGER_PY_STUBS or, unset, <repo>/build/python-stubs.
"""

import glob
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PROTO_ROOT = os.path.join(REPO, "proto")


def stubs_dir():
    return os.environ.get("PERFLEDGER_PY_STUBS") or os.path.join(REPO, "build", "python-stubs")


def _protos():
    return sorted(glob.glob(os.path.join(PROTO_ROOT, "perfledger", "v1", "*.proto")))


def _up_to_date(out):
    stamp = os.path.join(out, "perfledger", "v1", "hooks_pb2_grpc.py")
    if not os.path.exists(stamp):
        return False
    built = os.path.getmtime(stamp)
    return all(os.path.getmtime(p) <= built for p in _protos())


def generate_stubs(out):
    """Runs protoc into a scratch dir, then moves it into place, so that two clients starting
    at once never import a half-written package."""
    plugin = shutil.which("grpc_python_plugin")
    if plugin is None:
        sys.exit("grpc_python_plugin not found: install protobuf-compiler-grpc "
                 "(deploy/install-deps.sh)")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".stubs-", dir=parent)
    cmd = ["protoc", "--proto_path=" + PROTO_ROOT, "--python_out=" + scratch,
           "--grpc_out=" + scratch, "--plugin=protoc-gen-grpc=" + plugin] + _protos()
    subprocess.run(cmd, check=True)
    if os.path.exists(out):
        shutil.rmtree(out, ignore_errors=True)
    try:
        os.rename(scratch, out)
    except OSError:
        # Another process won the race with the same content.
        shutil.rmtree(scratch, ignore_errors=True)


def load_stubs():
    """Returns a namespace with the generated modules (pb: messages, grpc: service stubs)."""
    out = stubs_dir()
    if not _up_to_date(out):
        generate_stubs(out)
    if out not in sys.path:
        sys.path.insert(0, out)
    from perfledger.v1 import (commands_pb2, common_pb2, hooks_pb2, hooks_pb2_grpc,  # noqa: E402
                               ledger_pb2, ledger_pb2_grpc, views_pb2, views_pb2_grpc)

    class Stubs:
        pass

    s = Stubs()
    s.commands = commands_pb2
    s.common = common_pb2
    s.hooks = hooks_pb2
    s.hooks_grpc = hooks_pb2_grpc
    s.ledger = ledger_pb2
    s.ledger_grpc = ledger_pb2_grpc
    s.views = views_pb2
    s.views_grpc = views_pb2_grpc
    return s


def channel(server):
    import grpc
    # Plaintext: the examples talk to a perfledgerd on loopback (ARCHITECTURE §9).
    return grpc.insecure_channel(server, options=[("grpc.max_receive_message_length", 64 << 20)])


def metadata(token):
    return [("authorization", "Bearer " + token)] if token else []


def stop_on_sigterm():
    """SIGTERM stops a client like Ctrl-C: the transaction under way rolls back and what is
    owed is acknowledged before exit (a SIGKILL instead leaves it owed until the next start)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupt)


def log(name, msg):
    print("%s: %s" % (name, msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the consumer's store

# Bounds: items applied per transaction, items per Acknowledge call (the server allows 1000),
# items buffered between the stream reader and the applier.
MAX_GROUP = 512
MAX_ACK_ITEMS = 1000
MAX_BUFFERED = 20000
CRASH_EXIT = 86

COMMON_SCHEMA = """
-- Acknowledgements owed: written in the transaction that applied the effect, deleted once the
-- ledger answered. Whatever is here at start was applied before a crash and is sent first.
CREATE TABLE IF NOT EXISTS outbox (
  action_id    TEXT NOT NULL,
  cancellation INTEGER NOT NULL,
  reference    TEXT NOT NULL,
  PRIMARY KEY (action_id, cancellation)
);
-- Acknowledgements the ledger refused (kept for an operator; never retried automatically).
CREATE TABLE IF NOT EXISTS ack_failed (
  action_id    TEXT NOT NULL,
  cancellation INTEGER NOT NULL,
  reference    TEXT NOT NULL,
  error        TEXT NOT NULL,
  PRIMARY KEY (action_id, cancellation)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def open_store(path, schema):
    import sqlite3
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before we acknowledge what it applied.
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(COMMON_SCHEMA + schema)
    return db


def get_state(db, key, default=""):
    row = db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
    return row[0] if row else default


def put_state(db, key, value):
    db.execute("INSERT INTO state(key, value) VALUES(?, ?) "
               "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, str(value)))


class References:
    """Our own ids for new effects ("PAY-00000001", ...). The counter lives in `state` and is
    saved by the transaction that used it (save() before COMMIT, forget() after a ROLLBACK), so
    an id is never handed out twice, without a read and a write per effect."""

    def __init__(self, db, prefix):
        self.db = db
        self.prefix = prefix
        self.next_n = None
        self.dirty = False

    def next(self):
        if self.next_n is None:
            self.next_n = int(get_state(self.db, "next_ref", "1"))
        n = self.next_n
        self.next_n += 1
        self.dirty = True
        return "%s-%08d" % (self.prefix, n)

    def save(self):
        if self.dirty:
            put_state(self.db, "next_ref", self.next_n)
            self.dirty = False

    def forget(self):
        self.next_n = None
        self.dirty = False


def owe_ack(db, action_id, reference, cancellation=False):
    db.execute("INSERT OR IGNORE INTO outbox VALUES(?, ?, ?)",
               (action_id, 1 if cancellation else 0, reference))


def add_consumer_flags(p, consumer, db, prefix):
    p.add_argument("--server", default="127.0.0.1:7411", help="perfledgerd host:port")
    p.add_argument("--token", default=os.environ.get("PERFLEDGER_TOKEN", ""),
                   help="bearer token; default $PERFLEDGER_TOKEN")
    p.add_argument("--consumer", default=consumer, help="consumer name (1..64 chars)")
    p.add_argument("--db", default=db, help="the client's store (sqlite file)")
    p.add_argument("--reference-prefix", default=prefix, help="prefix of our references")
    p.add_argument("--exit-when-idle", type=float, default=0, metavar="SECONDS",
                   help="exit 0 once nothing arrived for SECONDS and nothing is owed (tests)")
    p.add_argument("--exit-after-applied", type=int, default=0, metavar="N",
                   help="exit 0 once this run changed the store N times (new effects and "
                        "reversals) and acknowledged them (tests)")
    p.add_argument("--crash-after-apply", type=int, default=0, metavar="N",
                   help="fault injection: exit hard (code %d) after applying N items, before "
                        "acknowledging them" % CRASH_EXIT)
    p.add_argument("--ack-batch", type=int, default=100, help="acknowledge every N items ...")
    p.add_argument("--ack-interval-ms", type=int, default=50, help="... or after this long")
    p.add_argument("--max-in-flight", type=int, default=5000,
                   help="SubscribeRequest.max_in_flight (0 = the server's 256)")
    p.add_argument("--redeliver-after-seconds", type=int, default=0,
                   help="SubscribeRequest.redeliver_after_seconds (0 = the server's default)")
    p.add_argument("--summary", action="store_true", help="print a JSON summary on exit")


def check_consumer_flags(p, args):
    if not 1 <= args.ack_batch <= MAX_ACK_ITEMS:
        p.error("--ack-batch must be 1..%d" % MAX_ACK_ITEMS)
    if args.exit_after_applied < 0:
        p.error("--exit-after-applied must be >= 0")
    if args.crash_after_apply < 0:
        p.error("--crash-after-apply must be >= 0")


# ---------------------------------------------------------------- the hook consumer

class HookConsumer:
    """The subscribe / apply / acknowledge loop, single-threaded except for the stream reader."""

    def __init__(self, args, app, stubs, db):
        """`app` applies items: `name`, `refs` (its References), kinds() -> [ActionKind],
        apply_action(item) and apply_cancellation(item) -> True if the store changed (both run
        inside the consumer's transaction on `db` and must owe_ack() the item, a repeat too),
        and before_ack() -> False if the ledger was unreachable (what the app must report before
        acknowledging, e.g. the LMS's enrolments)."""
        self.args = args
        self.app = app
        self.s = stubs
        import grpc
        self.grpc = grpc
        self.name = "%s[%s]" % (app.name, args.consumer)
        self.db = db
        self.channel = channel(args.server)
        self.hooks = self.s.hooks_grpc.HooksStub(self.channel)
        self.md = metadata(args.token)
        self.stats = {"applied": 0, "repeats": 0, "cancellations": 0, "resolved_skipped": 0,
                      "acked": 0, "ack_duplicates": 0, "ack_failed": 0, "ack_calls": 0,
                      "recovered_acks": 0, "subscribes": 0, "items": 0, "max_attempt": 0}
        self.first_item_at = None
        self.last_ack_at = None
        self.owed_since = None  # when the oldest unsent acknowledgement was written
        self.unflushed = 0      # items applied since the last flush (each may owe an ack)
        self.in_flight = None   # (outbox rows, future) of the Acknowledge call under way

    # ---------------------------------------------------------------- acknowledgements

    def flush(self, wait=False):
        """Sends the owed acknowledgements. One Acknowledge call is kept in flight while the
        loop applies the next items (the ledger's append and our apply overlap); `wait` also
        waits for its answer. An outbox row is deleted only when the ledger answered. Returns
        False if the ledger was unreachable (the rows stay owed for the next try)."""
        if not self._settle():
            return False
        if not self.app.before_ack():
            return False
        while True:
            rows = self.db.execute("SELECT action_id, cancellation, reference FROM outbox "
                                   "LIMIT ?", (MAX_ACK_ITEMS,)).fetchall()
            self.unflushed = 0
            if not rows:
                self.owed_since = None
                return True
            self.owed_since = time.monotonic() if len(rows) == MAX_ACK_ITEMS else None
            self.in_flight = (rows, self.hooks.Acknowledge.future(
                self._request(rows), metadata=self.md, timeout=30))
            if not wait:
                return True
            if not self._settle():
                return False

    def _request(self, rows):
        h = self.s.hooks
        return h.AcknowledgeRequest(consumer=self.args.consumer, items=[
            h.AcknowledgeItem(action_id=a, consumer_reference=r, cancellation=bool(c))
            for a, c, r in rows])

    def _settle(self):
        """Waits for the Acknowledge call in flight, if any, and records its answer."""
        if self.in_flight is None:
            return True
        rows, future = self.in_flight
        self.in_flight = None
        try:
            response = future.result()
        except self.grpc.RpcError as e:
            return self._refused(rows, e)
        self._acknowledged(rows, response)
        return True

    def _acknowledge_now(self, rows):
        try:
            response = self.hooks.Acknowledge(self._request(rows), metadata=self.md, timeout=30)
        except self.grpc.RpcError as e:
            return self._refused(rows, e)
        self._acknowledged(rows, response)
        return True

    def _acknowledged(self, rows, response):
        h = self.s.hooks
        self.stats["ack_calls"] += 1
        self.stats["acked"] += len(rows)
        self.stats["ack_duplicates"] += sum(
            1 for o in response.outcomes if o == h.ACKNOWLEDGE_OUTCOME_DUPLICATE)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("DELETE FROM outbox WHERE action_id=? AND cancellation=?",
                            [(a, c) for a, c, _ in rows])
        self.db.execute("COMMIT")
        self.last_ack_at = time.monotonic()

    def _refused(self, rows, e):
        code = e.code()
        if code in (self.grpc.StatusCode.UNAVAILABLE, self.grpc.StatusCode.DEADLINE_EXCEEDED,
                    self.grpc.StatusCode.RESOURCE_EXHAUSTED, self.grpc.StatusCode.ABORTED,
                    self.grpc.StatusCode.CANCELLED):
            log(self.name, "acknowledge: %s (will retry)" % code.name)
            self.owed_since = self.owed_since or time.monotonic()
            return False
        if len(rows) > 1:
            # The batch is atomic: one bad item fails it all. Find it by sending one by one.
            for row in rows:
                if not self._acknowledge_now([row]):
                    return False
            return True
        a, c, r = rows[0]
        msg = "%s: %s" % (code.name, e.details())
        log(self.name, "acknowledge %s refused: %s" % (a, msg))
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT OR REPLACE INTO ack_failed VALUES(?,?,?,?)", (a, c, r, msg))
        self.db.execute("DELETE FROM outbox WHERE action_id=? AND cancellation=?", (a, c))
        self.db.execute("COMMIT")
        self.stats["ack_failed"] += 1
        return True

    def owed(self):
        return self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    # ---------------------------------------------------------------- applying

    def apply_group(self, items):
        """Applies the items in one transaction with the cursor after the last one."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cursor = None
            for item in items:
                self.stats["max_attempt"] = max(self.stats["max_attempt"], item.attempt)
                if item.cursor:
                    cursor = item.cursor
                if item.resolved:
                    self.stats["resolved_skipped"] += 1
                elif item.type == self.s.hooks.HOOK_ITEM_TYPE_CANCELLATION:
                    if self.app.apply_cancellation(item):
                        self.stats["cancellations"] += 1
                    else:
                        self.stats["repeats"] += 1
                elif item.type == self.s.hooks.HOOK_ITEM_TYPE_ACTION:
                    if self.app.apply_action(item):
                        self.stats["applied"] += 1
                    else:
                        self.stats["repeats"] += 1
                else:
                    raise ValueError("unknown item type %d" % item.type)
            if cursor is not None:
                put_state(self.db, "cursor", cursor)
            self.app.refs.save()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            self.app.refs.forget()
            raise
        self.unflushed += len(items)
        if self.owed_since is None:
            self.owed_since = time.monotonic()

    # ---------------------------------------------------------------- the loop

    def subscribe(self):
        h = self.s.hooks
        request = h.SubscribeRequest(
            consumer=self.args.consumer,
            kinds=self.app.kinds(),
            cursor=get_state(self.db, "cursor"),
            redeliver_after_seconds=self.args.redeliver_after_seconds,
            max_in_flight=self.args.max_in_flight)
        call = self.hooks.Subscribe(request, metadata=self.md)
        q = queue.Queue(maxsize=MAX_BUFFERED)

        def read():
            try:
                for item in call:
                    q.put(("item", item))
                q.put(("end", None))
            except self.grpc.RpcError as e:
                q.put(("error", e))

        threading.Thread(target=read, daemon=True).start()
        self.stats["subscribes"] += 1
        return call, q

    def run(self):
        a = self.args
        owed = self.owed()
        # Fault injection: the crashing run acknowledges nothing at all, so that every item it
        # applied is owed at the crash, whatever the timing of the deliveries.
        acks_on = a.crash_after_apply == 0
        if owed and acks_on:
            # Crash recovery: effects applied before a crash whose acknowledgement never left.
            log(self.name, "recovering: %d acknowledgement(s) owed from the last run" % owed)
            self.owed_since = time.monotonic()
        backoff = 0.2
        last_activity = time.monotonic()
        crash_budget = a.crash_after_apply if a.crash_after_apply > 0 else None
        while True:
            if self.owed_since is not None and acks_on:
                before = self.stats["acked"]
                if self.flush(wait=True) and self.stats["subscribes"] == 0:
                    self.stats["recovered_acks"] += self.stats["acked"] - before
            call, q = self.subscribe()
            broken = None
            while broken is None:
                now = time.monotonic()
                waits = [0.5]
                if self.owed_since is not None and acks_on:
                    waits.append(self.owed_since + a.ack_interval_ms / 1000.0 - now)
                if self.in_flight is not None:
                    waits.append(0.005)  # come back soon to record the answer
                if a.exit_when_idle > 0:
                    waits.append(last_activity + a.exit_when_idle - now)
                try:
                    kind, payload = q.get(timeout=max(0.0, min(waits)))
                except queue.Empty:
                    kind, payload = None, None
                now = time.monotonic()
                if kind == "item":
                    items = [payload]
                    limit = MAX_GROUP
                    if crash_budget is not None:
                        limit = min(limit, crash_budget)
                    while len(items) < limit:
                        try:
                            k, p = q.get_nowait()
                        except queue.Empty:
                            break
                        if k != "item":
                            broken = (k, p)
                            break
                        items.append(p)
                    if self.first_item_at is None:
                        self.first_item_at = now
                    self.stats["items"] += len(items)
                    self.apply_group(items)
                    last_activity = time.monotonic()
                    backoff = 0.2
                    if crash_budget is not None:
                        crash_budget -= len(items)
                        if crash_budget <= 0:
                            log(self.name, "fault injection: exiting after applying %d "
                                "item(s), before acknowledging" % a.crash_after_apply)
                            os._exit(CRASH_EXIT)
                    changed = self.stats["applied"] + self.stats["cancellations"]
                    if a.exit_after_applied and changed >= a.exit_after_applied and acks_on:
                        if self.flush(wait=True):
                            call.cancel()
                            return 0
                        broken = ("error", None)
                elif kind is not None:
                    broken = (kind, payload)
                if self.in_flight is not None and (kind is None or self.in_flight[1].done()):
                    # Nothing else to do, or the answer is there: record it now, so that the
                    # outbox shrinks as soon as the ledger has the acknowledgements.
                    if not self._settle():
                        broken = ("error", None)
                owed_due = (self.owed_since is not None and
                            (time.monotonic() - self.owed_since >= a.ack_interval_ms / 1000.0 or
                             self.unflushed >= a.ack_batch))
                if owed_due and acks_on:
                    if not self.flush():
                        broken = ("error", None)
                if (a.exit_when_idle > 0 and broken is None and
                        time.monotonic() - last_activity >= a.exit_when_idle):
                    if not acks_on or self.flush(wait=True):
                        call.cancel()
                        return 0
                    broken = ("error", None)
            call.cancel()
            kind, err = broken
            if kind == "error" and err is not None:
                code = err.code()
                if code in (self.grpc.StatusCode.INVALID_ARGUMENT,
                            self.grpc.StatusCode.PERMISSION_DENIED,
                            self.grpc.StatusCode.UNAUTHENTICATED,
                            self.grpc.StatusCode.UNIMPLEMENTED):
                    log(self.name, "subscribe refused: %s: %s" % (code.name, err.details()))
                    return 1
                log(self.name, "stream broke: %s (resubscribing)" % code.name)
            if a.exit_when_idle > 0 and time.monotonic() - last_activity >= a.exit_when_idle \
                    and self.owed() == 0:
                return 0
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def summary(self):
        out = dict(self.stats)
        if self.first_item_at is not None and self.last_ack_at is not None:
            span = self.last_ack_at - self.first_item_at
            out["first_item_to_last_ack_seconds"] = round(span, 3)
            if span > 0:
                out["items_per_second"] = round(self.stats["items"] / span, 1)
        return out


