#!/usr/bin/python3
"""Does the example payroll client keep up with 2,000 actions/s, acknowledgements included?

Starts its own perfledgerd on a scratch data dir (loopback, a free port), publishes a one-rule
policy (grade A -> raise 5 %), registers --count employees and finalizes an A for each, so the
policy reactor appends --count SALARY_ADJUSTMENT actions. Once they are all in the payroll view,
it runs payroll_client.py (a separate process, as in production) until idle and reports how fast
it drained the backlog: items / (last acknowledgement - first item received). Then it checks that
every action is APPLIED in the ledger with the client's reference and applied once in its store.

    /usr/bin/python3 deploy/examples/clients/bench_payroll.py --count 10000

Bounded: at most --count (<= 100000) actions, each wait bounded; the server is stopped at the end.
"""

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perfledger_client as pc  # noqa: E402

MAX_COUNT = 100000
IN_FLIGHT = 64          # concurrent setup commands
WAIT_SECONDS = 600      # bound on each wait for the server

POLICY = """policy_id: bench-payroll
description: every A gets a 5 % raise (payroll client benchmark)
grading:
  method: weighted_scores
  weights:
    manager: 10000
  bands:
    - grade: A
      min_score_milli: 0
actions:
  A:
    raise_bp: 500
"""


def start_server(perfledgerd, root, tokens):
    err_path = os.path.join(root, "server.err")
    with open(err_path, "w") as err:
        proc = subprocess.Popen([perfledgerd, "--data-dir", os.path.join(root, "data"),
                                 "--listen", "127.0.0.1:0", "--tokens-file", tokens,
                                 "--deadline-check-seconds", "0"],
                                stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 60
    while True:
        with open(err_path) as f:
            text = f.read()
        m = re.search(r"serving on port ([0-9]+)", text)
        if m:
            return proc, "127.0.0.1:" + m.group(1)
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit("perfledgerd did not start:\n" + text[-2000:])
        time.sleep(0.02)


def cpu_seconds(pid):
    """User + system CPU of a process, from /proc (Linux)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    import resource
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_all(calls):
    """Runs (stub method, request) pairs with IN_FLIGHT outstanding; fails on the first error."""
    pending = []
    for method, request, md in calls:
        pending.append(method.future(request, metadata=md, timeout=120))
        if len(pending) >= IN_FLIGHT:
            pending.pop(0).result()
    for f in pending:
        f.result()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=10000, help="raise actions to drain")
    p.add_argument("--perfledgerd", default=os.path.join(pc.REPO, "build", "services",
                                                         "perfledgerd"))
    p.add_argument("--perfctl", default=os.path.join(pc.REPO, "build", "tools", "perfctl",
                                                     "perfctl"))
    p.add_argument("--ack-batch", default="100")
    p.add_argument("--ack-interval-ms", default="50")
    p.add_argument("--max-in-flight", default="5000")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir")
    a = p.parse_args()
    if not 1 <= a.count <= MAX_COUNT:
        p.error("--count must be 1..%d" % MAX_COUNT)

    s = pc.load_stubs()
    root = tempfile.mkdtemp(prefix="perfledger-bench-payroll-")
    tokens = os.path.join(root, "tokens")
    with open(tokens, "w") as f:
        f.write("bench-admin ops admin\nbench-payroll payroll-sys payroll\n")
    proc, address = start_server(a.perfledgerd, root, tokens)
    try:
        md = pc.metadata("bench-admin")
        ch = pc.channel(address)
        import grpc
        grpc.channel_ready_future(ch).result(timeout=60)
        policy = os.path.join(root, "policy.yaml")
        with open(policy, "w") as f:
            f.write(POLICY)
        subprocess.run([a.perfctl, "--server", address, "--token", "bench-admin", "policy",
                        "apply", policy], check=True, stdout=subprocess.DEVNULL)
        c = s.commands
        people = s.ledger_grpc.PeopleStub(ch)
        cycles = s.ledger_grpc.CyclesStub(ch)
        reviews = s.ledger_grpc.ReviewsStub(ch)
        people.DefineOrgUnit(c.DefineOrgUnitRequest(org_unit_id="BENCH", name="bench"),
                             metadata=md, timeout=30)
        t0 = time.monotonic()
        run_all((people.RegisterEmployee, c.RegisterEmployeeRequest(
            employee_id="B%06d" % i, name="bench %d" % i, org_unit_id="BENCH",
            job_level="L1", base_salary=s.common.Money(amount_minor=4000000, currency="EUR")),
            md) for i in range(a.count))
        open_req = c.OpenCycleRequest(cycle_id="BENCH1", name="bench")
        open_req.period_start.FromJsonString("2026-01-01T00:00:00Z")
        open_req.period_end.FromJsonString("2026-07-01T00:00:00Z")
        cycles.OpenCycle(open_req, metadata=md, timeout=30)

        def grade(i):
            r = c.FinalizeGradeRequest(employee_id="B%06d" % i, cycle_id="BENCH1", grade="A",
                                       score_milli=4000)
            r.meta.occurred_at.FromJsonString("2026-06-30T12:00:00Z")
            return r
        run_all((reviews.FinalizeGrade, grade(i), md) for i in range(a.count))
        setup = time.monotonic() - t0
        views = s.views_grpc.ViewsStub(ch)

        def pending():
            n, token = 0, ""
            while True:
                r = views.ListPayrollItems(s.views.ListPayrollItemsRequest(
                    cycle_id="BENCH1", page_size=1000, page_token=token), metadata=md,
                    timeout=60)
                n += len(r.items)
                token = r.next_page_token
                if not token:
                    return n
        deadline = time.monotonic() + WAIT_SECONDS
        while pending() < a.count:
            if time.monotonic() > deadline:
                sys.exit("the reactor did not append %d actions in time" % a.count)
            time.sleep(0.5)
        backlog_ready = time.monotonic() - t0

        db = os.path.join(root, "payroll.sqlite")
        cmd = ["/usr/bin/python3", os.path.join(pc.HERE, "payroll_client.py"), "--server",
               address, "--token", "bench-payroll", "--consumer", "payroll-bench", "--db", db,
               "--exit-when-idle", "2", "--summary", "--ack-batch", a.ack_batch,
               "--ack-interval-ms", a.ack_interval_ms, "--max-in-flight", a.max_in_flight]
        t1 = time.monotonic()
        server_cpu0 = cpu_seconds(proc.pid)
        child_cpu0 = children_cpu_seconds()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT_SECONDS)
        wall = time.monotonic() - t1
        server_cpu = cpu_seconds(proc.pid) - server_cpu0
        client_cpu = children_cpu_seconds() - child_cpu0
        if r.returncode != 0:
            sys.exit("payroll client failed (%d):\n%s" % (r.returncode, r.stderr))
        summary = json.loads(r.stdout.strip().splitlines()[-1])

        store = sqlite3.connect(db)
        applied = store.execute("SELECT COUNT(*), COUNT(DISTINCT action_id) FROM applied")
        n_applied, n_distinct = applied.fetchone()
        refs = dict(store.execute("SELECT action_id, reference FROM applied").fetchall())
        store.close()
        ok_ledger, token = 0, ""
        while True:
            page = views.ListPayrollItems(s.views.ListPayrollItemsRequest(
                cycle_id="BENCH1", page_size=1000, page_token=token,
                state=s.views.PAYROLL_STATE_APPLIED), metadata=md, timeout=60)
            ok_ledger += sum(1 for x in page.items if refs.get(x.action_id) ==
                             x.consumer_reference)
            token = page.next_page_token
            if not token:
                break
        report = {
            "count": a.count,
            "setup_seconds": round(setup, 1),
            "backlog_ready_seconds": round(backlog_ready, 1),
            "client_wall_seconds_incl_start_and_idle_exit": round(wall, 2),
            "drain_seconds_first_item_to_last_ack": summary.get("first_item_to_last_ack_seconds"),
            "actions_per_second_with_acks": summary.get("items_per_second"),
            "ack_calls": summary["ack_calls"],
            # CPU seconds over the client's run (start, drain, idle exit): on 2 cores, which
            # side is the bottleneck.
            "client_cpu_seconds": round(client_cpu, 2),
            "server_cpu_seconds": round(server_cpu, 2),
            "load_average_1min": os.getloadavg()[0],
            "applied_in_store": n_applied,
            "distinct_in_store": n_distinct,
            "applied_in_ledger_with_our_reference": ok_ledger,
        }
        print(json.dumps(report, indent=2))
        good = n_applied == n_distinct == ok_ledger == a.count
        return 0 if good else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("kept " + root, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
