#!/usr/bin/python3
"""Example payroll consumer of perfledger's Hooks (ARCHITECTURE §7, proto/perfledger/v1/hooks.proto).

It applies merit raises and bonuses to its own small store (sqlite) exactly once, although the
ledger delivers at least once:

  - the action id is the idempotency key: `applied` has it as primary key, and an item whose
    action is already there changes nothing (it only owes the same acknowledgement again);
  - the effect, our reference for it, the acknowledgement still owed (`outbox`) and the cursor are
    written in ONE sqlite transaction (synchronous=FULL), so a crash leaves either all or nothing;
  - acknowledgements are sent only after that commit, in batches (--ack-batch items or
    --ack-interval-ms, whichever comes first), and an outbox row is deleted only once the ledger
    answered; at start the outbox is sent first, which repairs a crash between apply and ack;
  - a cancellation notice reverses the effect (a reversal entry with its own reference) and is
    acknowledged with `cancellation = true`.

Several items that arrive together are applied in one transaction (group commit): each item's
effect still lands with the cursor that follows it, and one fsync serves the whole group, which
is what lets one consumer keep up with thousands of actions per second.

Exit codes: 0 done (--exit-when-idle, --exit-after-applied, SIGTERM, Ctrl-C), 1 a refusal that
retrying cannot fix (e.g. PERMISSION_DENIED), 2 usage, 86 the fault injected by
--crash-after-apply.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perfledger_client as pc  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied (
  action_id    TEXT PRIMARY KEY,   -- the ledger's action id: our idempotency key
  kind         TEXT NOT NULL,      -- 'raise' or 'bonus'
  employee_id  TEXT NOT NULL,
  amount_minor INTEGER NOT NULL,
  currency     TEXT NOT NULL,
  percent_bp   INTEGER NOT NULL,
  effective_at TEXT NOT NULL,
  reason_code  TEXT NOT NULL,
  cycle_id     TEXT NOT NULL,
  reference    TEXT NOT NULL UNIQUE,  -- our payroll entry id, sent with the acknowledgement
  attempt      INTEGER NOT NULL       -- the delivery attempt that applied it
);
-- Cancellation notices taken: one per action, whether or not we had applied it.
CREATE TABLE IF NOT EXISTS cancellations (
  action_id TEXT PRIMARY KEY,
  reference TEXT NOT NULL UNIQUE,     -- the reversal entry (or a no-op marker) we acknowledge with
  reversed  INTEGER NOT NULL          -- 1 when an applied effect was reversed
);
-- The payroll ledger: one row per money movement, each with its own reference.
CREATE TABLE IF NOT EXISTS entries (
  reference    TEXT PRIMARY KEY,
  action_id    TEXT NOT NULL,
  employee_id  TEXT NOT NULL,
  type         TEXT NOT NULL,      -- raise, bonus, raise-reversal, bonus-clawback
  amount_minor INTEGER NOT NULL,   -- signed
  currency     TEXT NOT NULL,
  effective_at TEXT NOT NULL
);
-- Annual salary per employee. The first raise seen for someone derives the salary in force from
-- the ledger's own numbers (amount = salary x percent), as this example has no HR master data.
CREATE TABLE IF NOT EXISTS salaries (
  employee_id  TEXT PRIMARY KEY,
  currency     TEXT NOT NULL,
  annual_minor INTEGER NOT NULL
);
"""


class Payroll:
    """Applies hook items to the store. Every method runs inside the caller's transaction."""

    name = "payroll-client"

    def __init__(self, db, stubs, prefix):
        self.db = db
        self.s = stubs
        self.prefix = prefix
        self.refs = pc.References(db, prefix)

    def kinds(self):
        return [self.s.common.ACTION_KIND_SALARY_ADJUSTMENT, self.s.common.ACTION_KIND_BONUS]

    def before_ack(self):
        return True

    def apply_action(self, item):
        """Returns True if the item changed the store, False for a repeat."""
        s = self.s
        kind = {s.common.ACTION_KIND_SALARY_ADJUSTMENT: "raise",
                s.common.ACTION_KIND_BONUS: "bonus"}.get(item.kind)
        if kind is None:
            raise ValueError("unexpected kind %d for %s" % (item.kind, item.action_id))
        row = self.db.execute("SELECT reference FROM applied WHERE action_id=?",
                              (item.action_id,)).fetchone()
        if row is not None:
            # Delivered again (redelivery, or our ack was lost): the effect stands; owe the
            # same acknowledgement again, the ledger answers DUPLICATE if it had it.
            pc.owe_ack(self.db, item.action_id, row[0])
            return False
        ref = self.refs.next()
        amount = item.amount.amount_minor
        currency = item.amount.currency
        effective = item.effective_at.ToJsonString() if item.HasField("effective_at") else ""
        self.db.execute(
            "INSERT INTO applied VALUES(?,?,?,?,?,?,?,?,?,?,?)",
            (item.action_id, kind, item.employee_id, amount, currency, item.percent_bp,
             effective, item.reason_code, item.cycle_id, ref, item.attempt))
        self.db.execute("INSERT INTO entries VALUES(?,?,?,?,?,?,?)",
                        (ref, item.action_id, item.employee_id, kind, amount, currency,
                         effective))
        if kind == "raise":
            self._adjust_salary(item.employee_id, currency, amount, item.percent_bp)
        pc.owe_ack(self.db, item.action_id, ref)
        return True

    def apply_cancellation(self, item):
        row = self.db.execute("SELECT reference FROM cancellations WHERE action_id=?",
                              (item.action_id,)).fetchone()
        if row is not None:
            pc.owe_ack(self.db, item.action_id, row[0], cancellation=True)
            return False
        applied = self.db.execute(
            "SELECT kind, employee_id, amount_minor, currency, effective_at "
            "FROM applied WHERE action_id=?", (item.action_id,)).fetchone()
        ref = self.refs.next()
        if applied is not None:
            kind, employee, amount, currency, effective = applied
            self.db.execute("INSERT INTO entries VALUES(?,?,?,?,?,?,?)",
                            (ref, item.action_id, employee,
                             "raise-reversal" if kind == "raise" else "bonus-clawback",
                             -amount, currency, effective))
            if kind == "raise":
                self.db.execute("UPDATE salaries SET annual_minor = annual_minor - ? "
                                "WHERE employee_id=?", (amount, employee))
        # else: another store applied it, or nobody did: nothing here to reverse, but the
        # notice is still answered so that the ledger stops sending it.
        self.db.execute("INSERT INTO cancellations VALUES(?,?,?)",
                        (item.action_id, ref, 1 if applied else 0))
        pc.owe_ack(self.db, item.action_id, ref, cancellation=True)
        return True

    def _adjust_salary(self, employee, currency, amount, percent_bp):
        row = self.db.execute("SELECT annual_minor FROM salaries WHERE employee_id=?",
                              (employee,)).fetchone()
        if row is None:
            base = amount * 10000 // percent_bp if percent_bp else 0
            self.db.execute("INSERT INTO salaries VALUES(?,?,?)",
                            (employee, currency, base + amount))
        else:
            self.db.execute("UPDATE salaries SET annual_minor=? WHERE employee_id=?",
                            (row[0] + amount, employee))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    pc.add_consumer_flags(p, consumer="payroll-example", db="payroll.sqlite", prefix="PAY")
    args = p.parse_args(argv)
    pc.check_consumer_flags(p, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    stubs = pc.load_stubs()
    db = pc.open_store(args.db, SCHEMA)
    pc.stop_on_sigterm()
    consumer = pc.HookConsumer(args, Payroll(db, stubs, args.reference_prefix), stubs, db)
    try:
        code = consumer.run()
    except KeyboardInterrupt:
        consumer.flush(wait=True)
        code = 0
    if args.summary:
        print(json.dumps(consumer.summary(), sort_keys=True), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
