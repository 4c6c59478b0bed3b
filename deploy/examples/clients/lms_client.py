#!/usr/bin/python3
"""Example LMS consumer of perfledger's Hooks (ARCHITECTURE §7): assigns recommended courses, reports
enrolments and completions.

`run` (the default) subscribes to TRAINING actions. Each one assigns the course in the LMS's own
store (sqlite; the action id is the primary key, so a redelivery assigns nothing twice), in the
same transaction as the acknowledgement it owes and the cursor. Before acknowledging, the client
reports the enrolment to the ledger (Training.RecordTraining, verb "enrolled", the action id and
our LMS reference), so the recommendation shows ENROLLED. A cancellation notice withdraws the
assignment and is acknowledged with `cancellation = true`.

`complete` records results for assigned courses (all of them, or those matching --employee,
--course, --action) and reports them (verb "completed", passed, score), which closes the
recommendations (ListTraining shows COMPLETED).

Every report carries an idempotency key derived from the action id and the business time stored
with the assignment, so a report repeated after a crash is the same request and appends nothing.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perfledger_client as pc  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
  action_id      TEXT PRIMARY KEY,   -- the ledger's action id: our idempotency key
  employee_id    TEXT NOT NULL,
  course_id      TEXT NOT NULL,
  cycle_id       TEXT NOT NULL,
  lms_reference  TEXT NOT NULL UNIQUE,
  assigned_at    TEXT NOT NULL,      -- RFC 3339; the enrolment's business time
  state          TEXT NOT NULL,      -- assigned, completed, withdrawn
  enrol_reported INTEGER NOT NULL DEFAULT 0,
  passed         INTEGER,
  score_milli    INTEGER,
  completed_at   TEXT,
  complete_reported INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cancellations (
  action_id TEXT PRIMARY KEY,
  reference TEXT NOT NULL UNIQUE
);
"""

# Each report is one RecordTraining call; bound how many one pass sends.
MAX_REPORTS_PER_PASS = 1000


def rfc3339_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Lms:
    name = "lms-client"

    def __init__(self, db, stubs, prefix, server, token):
        self.db = db
        self.s = stubs
        self.prefix = prefix
        self.refs = pc.References(db, prefix)
        self.training = stubs.ledger_grpc.TrainingStub(pc.channel(server))
        self.md = pc.metadata(token)
        self.reported = 0

    def kinds(self):
        return [self.s.common.ACTION_KIND_TRAINING]

    def apply_action(self, item):
        row = self.db.execute("SELECT lms_reference FROM assignments WHERE action_id=?",
                              (item.action_id,)).fetchone()
        if row is not None:
            pc.owe_ack(self.db, item.action_id, row[0])
            return False
        ref = self.refs.next()
        self.db.execute(
            "INSERT INTO assignments(action_id, employee_id, course_id, cycle_id, lms_reference,"
            " assigned_at, state) VALUES(?,?,?,?,?,?,'assigned')",
            (item.action_id, item.employee_id, item.course_id, item.cycle_id, ref,
             rfc3339_now()))
        pc.owe_ack(self.db, item.action_id, ref)
        return True

    def apply_cancellation(self, item):
        row = self.db.execute("SELECT reference FROM cancellations WHERE action_id=?",
                              (item.action_id,)).fetchone()
        if row is not None:
            pc.owe_ack(self.db, item.action_id, row[0], cancellation=True)
            return False
        ref = self.refs.next()
        # A course already completed stays completed: the result is a fact of the LMS.
        self.db.execute("UPDATE assignments SET state='withdrawn' "
                        "WHERE action_id=? AND state='assigned'", (item.action_id,))
        self.db.execute("INSERT INTO cancellations VALUES(?,?)", (item.action_id, ref))
        pc.owe_ack(self.db, item.action_id, ref, cancellation=True)
        return True

    def before_ack(self):
        """Reports what the ledger has not heard yet: enrolments, then completions."""
        return self.report()

    def report(self):
        import grpc
        rows = self.db.execute(
            "SELECT action_id, employee_id, course_id, lms_reference, assigned_at, 'enrolled',"
            " 0, 0 FROM assignments WHERE enrol_reported=0 "
            "UNION ALL "
            "SELECT action_id, employee_id, course_id, lms_reference, completed_at, 'completed',"
            " passed, score_milli FROM assignments WHERE state='completed' AND "
            " complete_reported=0 LIMIT ?", (MAX_REPORTS_PER_PASS,)).fetchall()
        c = self.s.commands
        for action_id, employee, course, ref, at, verb, passed, score in rows:
            meta = c.CommandMeta(idempotency_key="%s:%s:%s" % (self.prefix, verb[:3], action_id))
            meta.occurred_at.FromJsonString(at)
            request = c.RecordTrainingRequest(
                meta=meta, employee_id=employee, course_id=course, action_id=action_id,
                lms_reference=ref, verb=verb, passed=bool(passed), score_milli=score or 0)
            try:
                self.training.RecordTraining(request, metadata=self.md, timeout=30)
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED):
                    pc.log(self.name, "RecordTraining: %s (will retry)" % e.code().name)
                    return False
                # Refused (e.g. the action was withdrawn and the ledger will not take it): keep
                # the local fact, stop retrying, leave a trace for an operator.
                pc.log(self.name, "RecordTraining %s %s refused: %s: %s" %
                       (verb, action_id, e.code().name, e.details()))
            column = "enrol_reported" if verb == "enrolled" else "complete_reported"
            self.db.execute("UPDATE assignments SET %s=1 WHERE action_id=?" % column,
                            (action_id,))
            self.reported += 1
        return True

    def complete(self, employee, course, action, passed, score_milli):
        """Records results for the matching assigned courses; returns how many."""
        where, params = ["state='assigned'"], []
        for column, value in (("employee_id", employee), ("course_id", course),
                              ("action_id", action)):
            if value:
                where.append("%s=?" % column)
                params.append(value)
        self.db.execute("BEGIN IMMEDIATE")
        cur = self.db.execute(
            "UPDATE assignments SET state='completed', passed=?, score_milli=?, completed_at=? "
            "WHERE " + " AND ".join(where), [1 if passed else 0, score_milli, rfc3339_now()] +
            params)
        self.db.execute("COMMIT")
        return cur.rowcount


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="subscribe, assign, report enrolments, acknowledge")
    pc.add_consumer_flags(run, consumer="lms-example", db="lms.sqlite", prefix="LMS")
    done = sub.add_parser("complete", help="record and report results of assigned courses")
    pc.add_consumer_flags(done, consumer="lms-example", db="lms.sqlite", prefix="LMS")
    done.add_argument("--employee", default="", help="only this employee's courses")
    done.add_argument("--course", default="", help="only this course")
    done.add_argument("--action", default="", help="only this recommendation (action id)")
    result = done.add_mutually_exclusive_group()
    result.add_argument("--passed", dest="passed", action="store_true", default=True)
    result.add_argument("--failed", dest="passed", action="store_false")
    done.add_argument("--score-milli", type=int, default=1000,
                      help="result score in milli-points (default 1000)")
    if not argv or argv[0] not in ("run", "complete", "-h", "--help"):
        argv = ["run"] + list(argv or [])
    args = p.parse_args(argv)
    pc.check_consumer_flags(p, args)
    if args.command == "complete" and args.score_milli < 0:
        p.error("--score-milli must be >= 0")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stubs = pc.load_stubs()
    db = pc.open_store(args.db, SCHEMA)
    lms = Lms(db, stubs, args.reference_prefix, args.server, args.token)
    if args.command == "complete":
        n = lms.complete(args.employee, args.course, args.action, args.passed, args.score_milli)
        ok = lms.report()
        print(json.dumps({"completed": n, "reported": lms.reported}), flush=True)
        return 0 if ok else 3
    pc.stop_on_sigterm()
    consumer = pc.HookConsumer(args, lms, stubs, db)
    try:
        code = consumer.run()
    except KeyboardInterrupt:
        consumer.flush(wait=True)
        code = 0
    if args.summary:
        out = consumer.summary()
        out["reported"] = lms.reported
        print(json.dumps(out, sort_keys=True), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
