"""`runbook-bot run` as a person (or a script) uses it: decisions piped into a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def bot(
    tmp_path: Path, runbooks_dir: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(
        RUNBOOKS_DIR=str(runbooks_dir),
        RUNBOOK_DB_URL=f"sqlite:///{tmp_path / 'd.db'}",
        RUNBOOK_DEMO_DIR=str(tmp_path / "demo"),
        PYTHONPATH=str(REPO),
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def drill(
    tmp_path: Path, runbooks_dir: Path, *ref_and_params: str, script: str, actor: str = "U0SRE0001"
) -> subprocess.CompletedProcess[str]:
    """`runbook-bot run REF key=value ... --as ACTOR`, with `script` typed in."""
    return bot(tmp_path, runbooks_dir, "run", *ref_and_params, "--as", actor, stdin=script)


def drill_restart_api(
    tmp_path: Path, runbooks_dir: Path, script: str
) -> subprocess.CompletedProcess[str]:
    """Sam restarts api in production, typing `script`."""
    return drill(
        tmp_path, runbooks_dir, "restart-service", "service=api", "env=production", script=script
    )


def test_a_scripted_drill_runs_to_completion(tmp_path: Path, runbooks_dir: Path) -> None:
    assert bot(tmp_path, runbooks_dir, "publish").returncode == 0
    script = "done posted\nrun\napprove\napprove as U0IC00001\nrun\nrun\ndone all clear\n"
    result = drill_restart_api(tmp_path, runbooks_dir, script)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "U0SRE0001: Refused to approve 'restart': not an approver." in out
    assert "U0IC00001: Approved 'restart' (1 of 1)." in out
    assert out.rstrip().endswith("completed.")
    assert bot(tmp_path, runbooks_dir, "ledger", "verify").returncode == 0


def test_abort_and_end_of_input_have_their_own_exit_codes(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    bot(tmp_path, runbooks_dir, "publish")

    def comms(script: str) -> subprocess.CompletedProcess[str]:
        args = ["run", "customer-comms-outage", "product=Checkout", "--as", "U1"]
        return bot(tmp_path, runbooks_dir, *args, stdin=script)

    aborted = comms("abort false alarm\n")
    assert aborted.returncode == 3 and "Run aborted: false alarm." in aborted.stdout
    left = comms("done\n")
    assert left.returncode == 4 and "left active" in left.stdout
    wrong = comms("frobnicate\nskip\nquit\n")
    assert "! unknown command 'frobnicate'; type help" in wrong.stdout
    assert "! Say why the step is skipped; the reason goes into the ledger." in wrong.stdout


def test_missing_params_are_explained_before_anything_is_recorded(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    bot(tmp_path, runbooks_dir, "publish")
    result = bot(tmp_path, runbooks_dir, "run", "restart-service", "--as", "U1")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "error: restart-service needs service (string); add it as service=VALUE."
    )
    bad = bot(tmp_path, runbooks_dir, "run", "restart-service", "service", "--as", "U1")
    assert bad.stderr.strip() == "error: 'service' is not key=value; write for example service=api."


def test_a_run_left_active_can_be_resumed(tmp_path: Path, runbooks_dir: Path) -> None:
    bot(tmp_path, runbooks_dir, "publish")
    comms = ("customer-comms-outage", "product=Checkout")
    first = drill(tmp_path, runbooks_dir, *comms, script="done\nquit\n", actor="U1")
    assert first.returncode == 4
    run_id = first.stdout.split("--resume ")[1].split("`")[0]
    listing = bot(tmp_path, runbooks_dir, "runs").stdout.splitlines()
    assert listing[0].split() == ["run", "runbook", "status", "started", "(UTC)", "by", "channel"]
    assert listing[1].split()[:3] == [run_id, "customer-comms-outage@1", "active"]
    assert listing[1].split()[-2:] == ["U1", "local"] and len(listing) == 2
    unknown = bot(tmp_path, runbooks_dir, "run", "--resume", "run-nope", "--as", "U2")
    assert (
        unknown.stderr.strip()
        == "error: There is no run 'run-nope'; `runbook-bot runs` lists them."
    )
    script = "done\ndone\ndone updated at 10:30\ndone\n"
    second = bot(tmp_path, runbooks_dir, "run", "--resume", run_id, "--as", "U2", stdin=script)
    assert second.returncode == 0, second.stdout
    assert (
        f"run {run_id} of customer-comms-outage@1" in second.stdout
        and "Run completed." in second.stdout
    )
    assert (
        bot(tmp_path, runbooks_dir, "run", "--as", "U2").stderr.strip()
        == "error: Name the runbook to run (REF), or give --resume RUN_ID."
    )
    assert bot(tmp_path, runbooks_dir, "runs").stdout == "No run is active.\n"
    ended = bot(tmp_path, runbooks_dir, "runs", "--all").stdout.splitlines()
    assert [line.split()[:3] for line in ended[1:]] == [
        [run_id, "customer-comms-outage@1", "completed"]
    ]


def test_status_lists_every_step_and_a_bad_note_says_what_to_type(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    bot(tmp_path, runbooks_dir, "publish")
    script = "done posted\nnote\nnote tell-support x\nnote announce posted at 10:02\nstatus\n"
    result = drill_restart_api(tmp_path, runbooks_dir, script)
    lines = result.stdout.splitlines()
    assert "! Name the step and the new note: note STEP TEXT" in lines
    assert "    with: service=api" in lines  # the health check's arguments, as typed
    refused = next(line for line in lines if "has no step 'tell-support'" in line)
    assert refused.endswith("; its steps are announce, check, restart, verify, all-clear.")
    listing = [line for line in lines if line.startswith("  [")]
    assert [line.split(":")[0] for line in listing] == [
        "  [1/5] announce",
        "  [2/5] check",
        "  [3/5] restart",
        "  [4/5] verify",
        "  [5/5] all-clear",
    ]
    assert "done by U0SRE0001 at " in listing[0] and listing[0].endswith("(posted at 10:02)")
    assert listing[1].endswith(", presented") and listing[4].endswith(", pending")


def test_a_decision_in_the_drill(tmp_path: Path, runbooks_dir: Path) -> None:
    bot(tmp_path, runbooks_dir, "publish")
    script = "run\nchoose\nchoose 1\nstatus\n"
    result = drill(tmp_path, runbooks_dir, "disk-full-triage", "host=db1", script=script)
    lines = result.stdout.splitlines()
    assert "! Say which: choose N (the number shown) or choose LABEL" in lines
    cause = next(line for line in lines if line.startswith("  [2/5] cause:"))
    assert cause.endswith(", chose 'Old logs'"), cause
