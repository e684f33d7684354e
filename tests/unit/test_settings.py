import re
from pathlib import Path

from inkbus.settings import REPO_ROOT, Settings, settings_table


def test_readme_configuration_table_is_current():
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- settings-table:start -->")[1].split("<!-- settings-table:end -->")[0]
    assert block.strip() == settings_table(), "run: python -m inkbus.settings, and paste into README.md"


def test_every_setting_is_described_and_read_from_the_environment(monkeypatch):
    for name, field in Settings.model_fields.items():
        assert field.description, name
    monkeypatch.setenv("INKBUS_BATCH_MAX", "7")
    monkeypatch.setenv("INKBUS_BROKER_URL", "amqp://u:p@h:1//")
    s = Settings()
    assert s.batch_max == 7 and s.broker_url == "amqp://u:p@h:1//"


def test_no_broker_urls_or_secrets_as_literals_outside_settings():
    pattern = re.compile(r"amqp://|postgresql://|xox[bp]-|hooks\.slack\.com")
    offenders = []
    for path in REPO_ROOT.glob("*/**/*.py"):
        rel = path.relative_to(REPO_ROOT)
        if rel.parts[0] in {"tests", ".venv", "node_modules"} or rel == Path("inkbus/settings.py"):
            continue
        if pattern.search(path.read_text(errors="ignore")):
            offenders.append(str(rel))
    assert offenders == []
