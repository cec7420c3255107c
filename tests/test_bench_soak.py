"""The soak harness itself runs: Exhibit's service and worker, a few conversations, a file."""

from __future__ import annotations

import json
from pathlib import Path

from bench import soak


def test_a_brief_soak_answers_every_message_and_records_every_file(tmp_path: Path) -> None:
    results_file = tmp_path / "soak.json"
    status = soak.main(
        ["--minutes", "0.1", "--conversations", "3", "--cases", "1", "--file-mib", "2",
         "--ingest-every", "2", "--sample-seconds", "1", "--json", str(results_file)]
    )  # fmt: skip

    results = json.loads(results_file.read_text(encoding="utf-8"))
    assert (status, results["errors"], results["lost"], results["log_errors"]) == (0, [], [], {})
    assert results["turns"]["turns"] > 0
    assert results["files"]["recorded"] == results["files"]["sent"] >= 2  # the seed and one more
    assert results["database"]["jobs"] == {"completed": results["files"]["sent"]}
    assert results["database"]["jobs_without_exhibit"] == 0
    assert {"service", "worker-1", "azurite"} <= set(results["processes"])
