"""The example Python clients (deploy/examples/clients) against a live perfledgerd.

Each test starts the real perfledgerd binary on a scratch data dir with a tokens file (admin,
payroll and LMS principals), loads the manufacturing reference scenario with the real perfctl
(4 payroll actions: raises for W11 and W23, bonuses for W12 and W22; 4 training actions), runs
the clients as child processes and checks their sqlite stores and the ledger's views.

Environment (set by tests/clients/CMakeLists.txt): PERFLEDGERD, PERFCTL (binaries),
PERFLEDGER_PY_STUBS (the generated Python stubs).
"""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CLIENTS = os.path.join(REPO, "deploy", "examples", "clients")
SCENARIO = os.path.join(REPO, "deploy", "examples", "manufacturing")
sys.path.insert(0, CLIENTS)
import perfledger_client as pc  # noqa: E402

PERFLEDGERD = os.environ.get("PERFLEDGERD", os.path.join(REPO, "build", "services", "perfledgerd"))
PERFCTL = os.environ.get("PERFCTL", os.path.join(REPO, "build", "tools", "perfctl", "perfctl"))
PY = "/usr/bin/python3"
# Bounds on waiting for the server (these are limits, not expectations: the checks never
# depend on how fast anything runs).
START_TIMEOUT = 60
CLIENT_TIMEOUT = 120
VIEW_TIMEOUT = 60

ADMIN, PAYROLL, LMS = "admin-token-1", "payroll-token-1", "lms-token-1"
RAISES = {"W11": 630000, "W23": 660000}
BONUSES = {"W12": 60000, "W22": 66667}
COURSES = {("W11", "quality-control"), ("W23", "quality-control"),
           ("W12", "operation-skills"), ("W22", "operation-skills")}

S = pc.load_stubs()
import grpc  # noqa: E402


class Server:
    def __init__(self, root):
        self.root = root
        self.data = os.path.join(root, "data")
        tokens = os.path.join(root, "tokens")
        with open(tokens, "w") as f:
            f.write("%s ops admin\n%s payroll-sys payroll\n%s lms-sys lms\n" %
                    (ADMIN, PAYROLL, LMS))
        self.err_path = os.path.join(root, "server.err")
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [PERFLEDGERD, "--data-dir", self.data, "--listen", "127.0.0.1:0",
                 "--tokens-file", tokens, "--deadline-check-seconds", "0"],
                stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + START_TIMEOUT
        port = None
        while port is None:
            m = re.search(r"serving on port ([0-9]+)", self.tail())
            if m:
                port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError("perfledgerd exited: " + self.tail())
            elif time.monotonic() > deadline:
                raise RuntimeError("perfledgerd did not serve in time: " + self.tail())
            else:
                time.sleep(0.02)
        self.address = "127.0.0.1:%d" % port
        self.channel = pc.channel(self.address)
        grpc.channel_ready_future(self.channel).result(timeout=START_TIMEOUT)
        self.md = pc.metadata(ADMIN)
        self.log = S.ledger_grpc.LogStub(self.channel)
        self.views = S.views_grpc.ViewsStub(self.channel)
        self.hooks = S.hooks_grpc.HooksStub(self.channel)

    def tail(self):
        with open(self.err_path) as f:
            return f.read()[-3000:]

    def stop(self):
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def perfctl(self, *args):
        r = subprocess.run([PERFCTL, "--server", self.address, "--token", ADMIN] + list(args),
                           capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        if r.returncode != 0:
            raise AssertionError("perfctl %s -> %d\n%s%s" % (" ".join(args), r.returncode,
                                                             r.stdout, r.stderr))
        return r.stdout

    def log_end(self):
        status = self.log.Status(S.ledger.StatusRequest(), metadata=self.md, timeout=30)
        return sum(p.end_offset for p in status.partitions)

    def payroll_items(self):
        items, token = [], ""
        while True:
            r = self.views.ListPayrollItems(
                S.views.ListPayrollItemsRequest(page_size=1000, page_token=token),
                metadata=self.md, timeout=30)
            items.extend(r.items)
            token = r.next_page_token
            if not token:
                return items

    def training(self):
        records, token = [], ""
        while True:
            r = self.views.ListTraining(
                S.views.ListTrainingRequest(page_size=1000, page_token=token),
                metadata=self.md, timeout=30)
            records.extend(r.records)
            token = r.next_page_token
            if not token:
                return records

    def wait_for(self, what, fn):
        """Polls fn() until it returns a true value (views are eventually consistent)."""
        deadline = time.monotonic() + VIEW_TIMEOUT
        while True:
            value = fn()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for " + what)
            time.sleep(0.1)


def run_client(script, server, db, *args, token=PAYROLL, consumer="payroll-test",
               subcommand=None):
    """Runs a client to its end; returns (exit code, its JSON summary line or {}, stderr)."""
    cmd = [PY, os.path.join(CLIENTS, script)] + ([subcommand] if subcommand else [])
    cmd += ["--server", server.address, "--token", token, "--consumer", consumer, "--db", db]
    cmd += list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    summary = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            summary = json.loads(line)
    return r.returncode, summary, r.stderr


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="perfledger-clients-")
        self.server = Server(self.root)
        self.addCleanup(self.cleanup)
        self.server.perfctl("scenario", "load", SCENARIO)
        # The policy reactor appends the actions after the grades: wait until the views have
        # all eight (4 payroll, 4 training).
        self.server.wait_for("the scenario's payroll actions",
                             lambda: len(self.server.payroll_items()) == 4)
        self.server.wait_for("the scenario's training actions",
                             lambda: len([r for r in self.server.training() if r.action_id]) == 4)

    def cleanup(self):
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def db(self, name):
        return os.path.join(self.root, name)

    def payroll(self, db, *args, **kw):
        return run_client("payroll_client.py", self.server, db, "--summary", *args, **kw)

    def lms(self, db, *args):
        return run_client("lms_client.py", self.server, db, "--summary", *args, token=LMS,
                          consumer="lms-test")

    def lms_complete(self, db, *args):
        return run_client("lms_client.py", self.server, db, *args, token=LMS,
                          consumer="lms-test", subcommand="complete")

    def assert_payroll_store_exactly_once(self, path):
        db = sqlite3.connect(path)
        applied = dict(db.execute("SELECT employee_id, amount_minor FROM applied").fetchall())
        self.assertEqual(len(applied), 4)
        self.assertEqual(applied, {**RAISES, **BONUSES})
        per_action = db.execute("SELECT action_id, COUNT(*) FROM entries GROUP BY action_id")
        self.assertTrue(all(n == 1 for _, n in per_action.fetchall()))
        self.assertEqual(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0], 4)
        # The salary in force (from the scenario's employees.csv) plus the raise, once.
        salaries = dict(db.execute("SELECT employee_id, annual_minor FROM salaries").fetchall())
        self.assertEqual(salaries, {"W11": 4200000 + 630000, "W23": 4400000 + 660000})
        self.assertEqual(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT COUNT(*) FROM ack_failed").fetchone()[0], 0)
        refs = dict(db.execute("SELECT action_id, reference FROM applied").fetchall())
        db.close()
        return refs

    def assert_ledger_applied(self, refs, consumer="payroll-test"):
        items = self.server.wait_for(
            "every payroll item APPLIED",
            lambda: (lambda xs: xs if all(x.state == S.views.PAYROLL_STATE_APPLIED for x in xs)
                     else None)(self.server.payroll_items()))
        self.assertEqual({x.action_id: x.consumer_reference for x in items}, refs)
        self.assertTrue(all(x.consumer == consumer for x in items))

    # ------------------------------------------------------------------ payroll

    def test_payroll_crash_between_apply_and_ack_then_exactly_once(self):
        db = self.db("payroll.sqlite")
        code, _, err = self.payroll(db, "--crash-after-apply", "2", "--exit-when-idle", "60")
        self.assertEqual(code, pc.CRASH_EXIT, err)
        store = sqlite3.connect(db)
        self.assertEqual(store.execute("SELECT COUNT(*) FROM applied").fetchone()[0], 2)
        self.assertEqual(store.execute("SELECT COUNT(*) FROM outbox").fetchone()[0], 2)
        crashed = {r[0] for r in store.execute("SELECT action_id FROM applied")}
        store.close()
        # Nothing reached the ledger: the two applied items are not APPLIED there.
        states = {x.action_id: x.state for x in self.server.payroll_items()}
        self.assertTrue(all(states[a] != S.views.PAYROLL_STATE_APPLIED for a in crashed))

        code, summary, err = self.payroll(db, "--exit-after-applied", "2",
                                          "--exit-when-idle", "60")
        self.assertEqual(code, 0, err)
        self.assertGreaterEqual(summary["recovered_acks"], 2, summary)
        self.assertEqual(summary["applied"], 2, summary)
        refs = self.assert_payroll_store_exactly_once(db)
        self.assert_ledger_applied(refs)

        # A third run finds nothing open: no effect, no acknowledgement.
        end = self.server.log_end()
        code, summary, err = self.payroll(db, "--exit-when-idle", "2")
        self.assertEqual(code, 0, err)
        self.assertEqual((summary["applied"], summary["acked"]), (0, 0), summary)
        self.assertEqual(self.assert_payroll_store_exactly_once(db), refs)
        self.assertEqual(self.server.log_end(), end)

    def test_duplicate_acknowledgements_append_nothing(self):
        db = self.db("payroll.sqlite")
        code, _, err = self.payroll(db, "--exit-after-applied", "4", "--exit-when-idle", "60")
        self.assertEqual(code, 0, err)
        refs = self.assert_payroll_store_exactly_once(db)
        self.assert_ledger_applied(refs)
        end = self.server.log_end()

        # The same acknowledgements again, straight over gRPC: DUPLICATE, nothing appended.
        h = S.hooks
        request = h.AcknowledgeRequest(consumer="payroll-test", items=[
            h.AcknowledgeItem(action_id=a, consumer_reference=r) for a, r in refs.items()])
        response = self.server.hooks.Acknowledge(request, metadata=pc.metadata(PAYROLL),
                                                 timeout=30)
        self.assertEqual(list(response.outcomes), [h.ACKNOWLEDGE_OUTCOME_DUPLICATE] * 4)
        self.assertEqual(len(response.positions), 0)
        self.assertEqual(self.server.log_end(), end)

        # A different reference for an acknowledged action is refused and appends nothing.
        action = sorted(refs)[0]
        with self.assertRaises(grpc.RpcError) as ctx:
            self.server.hooks.Acknowledge(h.AcknowledgeRequest(consumer="payroll-test", items=[
                h.AcknowledgeItem(action_id=action, consumer_reference="OTHER-1")]),
                metadata=pc.metadata(PAYROLL), timeout=30)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        self.assertEqual(self.server.log_end(), end)

        # The client's own path: acknowledgements it owes again (as after losing an answer)
        # come back DUPLICATE and change neither the store nor the log.
        store = sqlite3.connect(db)
        store.executemany("INSERT INTO outbox VALUES(?, 0, ?)", refs.items())
        store.commit()
        store.close()
        code, summary, err = self.payroll(db, "--exit-when-idle", "1")
        self.assertEqual(code, 0, err)
        self.assertEqual((summary["acked"], summary["ack_duplicates"]), (4, 4), summary)
        self.assertEqual(self.assert_payroll_store_exactly_once(db), refs)
        self.assertEqual(self.server.log_end(), end)

    def test_redelivery_of_unacknowledged_items(self):
        h = S.hooks
        request = h.SubscribeRequest(
            consumer="probe", redeliver_after_seconds=1,
            kinds=[S.common.ACTION_KIND_SALARY_ADJUSTMENT, S.common.ACTION_KIND_BONUS])
        call = self.server.hooks.Subscribe(request, metadata=pc.metadata(PAYROLL), timeout=60)
        attempts = {}
        try:
            for item in call:
                self.assertEqual(item.type, h.HOOK_ITEM_TYPE_ACTION)
                self.assertTrue(item.cursor)
                attempts.setdefault(item.action_id, []).append(item.attempt)
                if any(2 in a for a in attempts.values()):
                    break
        finally:
            call.cancel()
        self.assertEqual(len(attempts), 4, attempts)
        again = [a for a, seen in attempts.items() if 2 in seen]
        self.assertTrue(again)
        self.assertEqual(attempts[again[0]][:2], [1, 2])

        # Deliveries nobody acknowledged lose nothing: the payroll client still gets all four.
        db = self.db("payroll.sqlite")
        code, _, err = self.payroll(db, "--exit-after-applied", "4", "--exit-when-idle", "60")
        self.assertEqual(code, 0, err)
        self.assert_ledger_applied(self.assert_payroll_store_exactly_once(db))

    def test_cancellations_are_reversed_and_acknowledged(self):
        db, lms_db = self.db("payroll.sqlite"), self.db("lms.sqlite")
        code, _, err = self.payroll(db, "--exit-after-applied", "4", "--exit-when-idle", "60")
        self.assertEqual(code, 0, err)
        refs = self.assert_payroll_store_exactly_once(db)
        self.assert_ledger_applied(refs)
        code, _, err = self.lms(lms_db, "--exit-after-applied", "4", "--exit-when-idle", "60")
        self.assertEqual(code, 0, err)

        # Superseding grades for W11 and W12 withdraw the raise, the bonus and both courses,
        # all of them already applied by their consumers.
        for employee in ("W11", "W12"):
            self.server.perfctl("grade", "finalize", "--employee", employee, "--cycle",
                                "2026H1", "--grade", "C", "--score-milli", "4000")
        self.server.wait_for("W11's raise and W12's bonus CANCELLED", lambda: len([
            x for x in self.server.payroll_items()
            if x.state == S.views.PAYROLL_STATE_CANCELLED]) == 2)
        code, summary, err = self.payroll(db, "--exit-after-applied", "2",
                                          "--exit-when-idle", "60")
        self.assertEqual(code, 0, err)
        self.assertEqual(summary["cancellations"], 2, summary)
        store = sqlite3.connect(db)
        rows = store.execute("SELECT employee_id, type, amount_minor FROM entries "
                             "WHERE employee_id IN ('W11', 'W12') ORDER BY reference").fetchall()
        self.assertEqual(sorted(rows), [
            ("W11", "raise", 630000), ("W11", "raise-reversal", -630000),
            ("W12", "bonus", 60000), ("W12", "bonus-clawback", -60000)])
        salary = store.execute("SELECT annual_minor FROM salaries WHERE employee_id='W11'")
        self.assertEqual(salary.fetchone()[0], 4200000)
        self.assertEqual(store.execute("SELECT COUNT(*) FROM outbox").fetchone()[0], 0)
        store.close()

        code, summary, err = self.lms(lms_db, "--exit-after-applied", "2",
                                      "--exit-when-idle", "60")
        self.assertEqual(code, 0, err)
        self.assertEqual(summary["cancellations"], 2, summary)
        store = sqlite3.connect(lms_db)
        states = dict(store.execute("SELECT employee_id, state FROM assignments").fetchall())
        self.assertEqual(states, {"W11": "withdrawn", "W12": "withdrawn", "W22": "assigned",
                                  "W23": "assigned"})
        store.close()
        records = {r.employee_id: r for r in self.server.training() if r.action_id}
        self.assertTrue(records["W11"].cancelled and records["W12"].cancelled)

        # The notices were acknowledged: new runs get nothing and append nothing.
        end = self.server.log_end()
        for summary in (self.payroll(db, "--exit-when-idle", "2")[1],
                        self.lms(lms_db, "--exit-when-idle", "2")[1]):
            self.assertEqual((summary["items"], summary["acked"]), (0, 0), summary)
        self.assertEqual(self.server.log_end(), end)

    # ------------------------------------------------------------------ LMS

    def test_lms_assigns_reports_enrolments_and_completions(self):
        db = self.db("lms.sqlite")
        # A payroll principal may not take training actions: refused, not retried.
        code, _, err = run_client("lms_client.py", self.server, self.db("wrong.sqlite"),
                                  "--exit-when-idle", "60", token=PAYROLL, consumer="lms-test")
        self.assertEqual(code, 1, err)
        self.assertIn("PERMISSION_DENIED", err)
        code, _, err = run_client("lms_client.py", self.server, db, "--summary",
                                  "--crash-after-apply", "1", "--exit-when-idle", "60",
                                  token=LMS, consumer="lms-test")
        self.assertEqual(code, pc.CRASH_EXIT, err)
        code, summary, err = run_client("lms_client.py", self.server, db, "--summary",
                                        "--exit-after-applied", "3", "--exit-when-idle", "60",
                                        token=LMS, consumer="lms-test")
        self.assertEqual(code, 0, err)
        store = sqlite3.connect(db)
        rows = store.execute("SELECT action_id, employee_id, course_id, lms_reference, "
                             "enrol_reported FROM assignments").fetchall()
        self.assertEqual({(r[1], r[2]) for r in rows}, COURSES)
        self.assertTrue(all(r[4] == 1 for r in rows))
        self.assertEqual(store.execute("SELECT COUNT(*) FROM outbox").fetchone()[0], 0)
        store.close()
        refs = {r[0]: r[3] for r in rows}

        def recommended(state):
            records = [r for r in self.server.training() if r.action_id]
            return records if all(r.state == state for r in records) else None

        records = self.server.wait_for("every recommendation ENROLLED",
                                       lambda: recommended(S.views.TRAINING_STATE_ENROLLED))
        self.assertEqual({r.action_id: r.lms_reference for r in records}, refs)

        code, out, err = self.lms_complete(db, "--employee", "W11", "--score-milli", "900")
        self.assertEqual((code, out), (0, {"completed": 1, "reported": 1}), err)
        code, out, err = self.lms_complete(db, "--failed", "--score-milli", "400")
        self.assertEqual((code, out), (0, {"completed": 3, "reported": 3}), err)
        records = self.server.wait_for("every recommendation COMPLETED",
                                       lambda: recommended(S.views.TRAINING_STATE_COMPLETED))
        results = {r.employee_id: (r.passed, r.score_milli) for r in records}
        self.assertEqual(results, {"W11": (True, 900), "W12": (False, 400),
                                   "W22": (False, 400), "W23": (False, 400)})
        # Completing again finds nothing left to complete and appends nothing.
        end = self.server.log_end()
        code, out, err = self.lms_complete(db)
        self.assertEqual((code, out), (0, {"completed": 0, "reported": 0}), err)
        self.assertEqual(self.server.log_end(), end)


if __name__ == "__main__":
    unittest.main()
