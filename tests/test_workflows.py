"""The manual deploy workflow: actionlint and zizmor find nothing, and it deploys as the README says."""

import json
import re
import subprocess
from typing import Any

import yaml

from tests.conftest import ROOT
from tests.helpers import tool

WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY = WORKFLOWS / "deploy.yml"


def deploy_workflow() -> dict[Any, Any]:
    workflow: dict[Any, Any] = yaml.safe_load(DEPLOY.read_text())
    return workflow


def steps(job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = deploy_workflow()["jobs"][job]["steps"]
    return found


def test_actionlint_finds_nothing() -> None:
    # actionlint also runs shellcheck on the `run:` scripts where shellcheck is installed.
    files = sorted(str(path) for path in WORKFLOWS.glob("*.y*ml"))
    result = subprocess.run(
        [tool("actionlint"), "-no-color", *files], cwd=ROOT, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_zizmor_finds_nothing_offline() -> None:
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--format=json", str(WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_it_runs_by_hand_with_read_only_permissions() -> None:
    workflow = deploy_workflow()
    # YAML 1.1 reads the key `on` as true.
    assert workflow[True] == {"workflow_dispatch": None}
    assert workflow["permissions"] == {"contents": "read"}
    assert "environment" not in str(workflow["jobs"])  # secrets come from the repository's


def test_every_action_is_pinned_to_a_commit() -> None:
    uses = [
        step["uses"] for job in deploy_workflow()["jobs"] for step in steps(job) if "uses" in step
    ]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action


def test_the_test_job_runs_the_readmes_test_command_on_postgresql() -> None:
    job = deploy_workflow()["jobs"]["test"]
    assert job["services"]["postgres"]["image"] == "postgres:16"
    assert job["env"]["TEST_DATABASE_URL"].startswith("postgresql://")
    assert [step["run"] for step in job["steps"] if "run" in step] == ["make test"]
    checkout = next(
        step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@")
    )
    assert checkout["with"]["persist-credentials"] is False


def test_the_deploy_job_pins_the_pis_host_key_and_keeps_a_failed_build_harmless() -> None:
    job = deploy_workflow()["jobs"]["deploy"]
    assert job["needs"] == "test"
    (step,) = [step for step in job["steps"] if "PI_SSH_KEY" in step.get("env", {})]
    assert step["env"]["PI_SSH_KNOWN_HOSTS"] == "${{ secrets.PI_SSH_KNOWN_HOSTS }}"
    assert step["env"]["PI_SSH_KEY"] == "${{ secrets.PI_SSH_KEY }}"
    # Secrets only from the repository's secrets; the commit is the one the test job tested.
    assert step["env"].pop("TESTED_SHA") == "${{ github.sha }}"
    assert all(value.startswith("${{ secrets.") for value in step["env"].values())
    script = step["run"]
    assert "> ~/.ssh/known_hosts" in script
    assert "-o StrictHostKeyChecking=yes" in script
    assert '"$PI_APP_DIR" "$TESTED_SHA" | ssh' in script
    assert (
        'cd "$dir" && git fetch --quiet origin && git merge --ff-only --quiet "$sha"'
        ' && test "$(git rev-parse HEAD)" = "$sha"'
        " && docker compose up -d --build --wait && docker image prune -f"
    ) in script
    assert "git pull" not in script
    # No `down` first: a build that fails must leave the running service alone.
    scripts = [step.get("run", "") for name in ("test", "deploy") for step in steps(name)]
    assert not any("compose down" in run for run in scripts)


def remote_command() -> str:
    """What the deploy step runs on the Pi (the single-quoted argument of ssh)."""
    (step,) = [step for step in steps("deploy") if "PI_SSH_KEY" in step.get("env", {})]
    match = re.search(r"'(IFS= read -r dir.*?)'\s*$", step["run"], re.MULTILINE)
    assert match, step["run"]
    return match.group(1)


def git(cwd: Any, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_pi_deploys_exactly_the_tested_commit_or_nothing(tmp_path: Any) -> None:
    """The remote command, run here with a `docker` that only notes its calls: the Pi's clone
    moves forward to the tested commit; a commit it cannot move to exactly rebuilds nothing."""
    origin, pi = tmp_path / "origin", tmp_path / "pi"
    git(tmp_path, "init", "-q", "-b", "main", str(origin))
    for name in ("a", "b"):
        (origin / name).write_text(name)
        git(origin, "add", name)
        git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", name)
    first, tested = git(origin, "rev-parse", "HEAD~1"), git(origin, "rev-parse", "HEAD")
    git(tmp_path, "clone", "-q", str(origin), str(pi))
    git(pi, "reset", "-q", "--hard", first)  # the Pi runs the older commit
    bin_dir, calls = tmp_path / "bin", tmp_path / "docker-calls"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "docker").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}

    def deploy(sha: str) -> int:
        done = subprocess.run(
            ["sh", "-c", remote_command()],
            input=f"{pi}\n{sha}\n",
            env=env,
            capture_output=True,
            text=True,
        )
        return done.returncode

    assert deploy(tested) == 0
    assert git(pi, "rev-parse", "HEAD") == tested
    assert calls.read_text().splitlines() == ["compose up -d --build --wait", "image prune -f"]
    calls.unlink()
    # The branch is past the commit asked for (a newer deploy), or the commit is unknown.
    assert deploy(first) != 0
    assert deploy("0" * 40) != 0
    assert git(pi, "rev-parse", "HEAD") == tested
    assert not calls.exists()
