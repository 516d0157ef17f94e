"""`acquis framework import|export|samples` as an administrator runs them, against the test database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from acquis.cli.main import cli
from acquis.core import establishments
from acquis.core.db import Database
from acquis.core.interchange.samples import samples
from acquis.core.models import Framework
from tests.conftest import TEST_KEY

SAMPLES = {s.name: s for s in samples()}
Invoke = Callable[..., Result]


@pytest.fixture
def run(database_url: str, db: Database, tmp_path: Path) -> Invoke:
    """Runs the CLI with its own runtime built from the environment, on the (wiped) test database."""
    with db.session() as s:
        establishments.create(s, "univ-a", "Université A")
        establishments.create(s, "univ-b", "Université B")
    env = {
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_DATABASE_URL": database_url,
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_WORKER": "none",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def frameworks_of(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(f.code, f.title) for f in s.scalars(select(Framework).order_by(Framework.id))]


def test_samples_lists_the_shipped_files(run: Invoke) -> None:
    result = run("framework", "samples")
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()]
    names = [line[0] for line in lines]
    assert {"centrale", "demo", "rncp-expert-si"} <= set(names)
    for name, _title, path in lines:
        assert Path(path).is_file() and Path(path).stem == name


def test_import_guessed_from_extension_then_export_yaml_to_stdout(run: Invoke, db: Database) -> None:
    path = str(SAMPLES["rncp-expert-si"].path)
    result = run("framework", "import", "univ-a", path)
    assert result.exit_code == 0, result.output
    assert result.output == "framework rncp-expert-si imported: 16 competencies, 4 levels\n"
    exported = run("framework", "export", "univ-a", "rncp-expert-si")
    assert exported.exit_code == 0, exported.output
    assert yaml.safe_load(exported.output) == yaml.safe_load(Path(path).read_text(encoding="utf-8"))


@pytest.mark.parametrize(("suffix", "fmt"), [(".json", "case"), (".csv", "moodle-csv"), (".yml", "yaml")])
def test_export_to_a_file_and_import_it_elsewhere(
    run: Invoke, db: Database, tmp_path: Path, suffix: str, fmt: str
) -> None:
    assert run("framework", "import", "univ-a", str(SAMPLES["centrale"].path)).exit_code == 0
    out = tmp_path / f"centrale{suffix}"
    result = run("framework", "export", "univ-a", "centrale", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == f"framework centrale written to {out} ({fmt})\n"
    if fmt == "case":
        assert json.loads(out.read_text(encoding="utf-8"))["CFDocument"]["title"] == (
            "Compétences de l'ingénieur centralien"
        )
    again = run("framework", "import", "univ-b", str(out))
    assert again.exit_code == 0, again.output
    assert again.output == "framework centrale imported: 20 competencies, 5 levels\n"
    assert len(frameworks_of(db)) == 2


def test_explicit_format_wins_over_the_extension(run: Invoke, db: Database, tmp_path: Path) -> None:
    assert run("framework", "import", "univ-a", str(SAMPLES["demo"].path)).exit_code == 0
    csv_text = run("framework", "export", "univ-a", "demo", "--format", "moodle-csv").output
    assert csv_text.startswith("Parent ID number,ID number,Short name,")
    path = tmp_path / "from-moodle.txt"
    path.write_text("\ufeff" + csv_text, encoding="utf-8")
    result = run("framework", "import", "univ-b", str(path), "--format", "moodle-csv")
    assert result.exit_code == 0, result.output
    assert frameworks_of(db)[1] == ("demo", "Compétences numériques (démo)")


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    return result.output


def test_errors_are_one_line_and_leave_nothing_behind(run: Invoke, db: Database, tmp_path: Path) -> None:
    unknown = tmp_path / "framework.xml"
    unknown.write_text("<framework/>", encoding="utf-8")
    assert "--format" in _one_line_error(run("framework", "import", "univ-a", str(unknown)))

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"CFItems": []}), encoding="utf-8")
    assert "CFDocument" in _one_line_error(run("framework", "import", "univ-a", str(broken)))

    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text(
        '"Parent ID number","ID number","Short name"\n,F,Framework\n,C1,Un\n', encoding="utf-8"
    )
    message = _one_line_error(run("framework", "import", "univ-a", str(bad_csv)))
    assert "Is framework" in message

    missing = _one_line_error(run("framework", "import", "univ-a", str(tmp_path / "nowhere.yaml")))
    assert "cannot read" in missing
    assert "no framework 'nope'" in _one_line_error(run("framework", "export", "univ-a", "nope"))
    assert "no establishment" in _one_line_error(
        run("framework", "import", "univ-z", str(SAMPLES["demo"].path))
    )
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Framework)) == 0
