from __future__ import annotations

import re
from pathlib import Path

import pytest

import config.settings
from config import load_settings


def test_defaults_run_everything_embedded_on_one_machine() -> None:
    settings = load_settings(env_file=None, environ={})

    assert (settings.host, settings.port, settings.tus_base_path) == ("127.0.0.1", 1080, "/files/")
    assert settings.upload_dir == Path("data/uploads")
    assert settings.database_url == "sqlite:///data/tusmedia.db"
    assert settings.max_file_size == 500 * 1024 * 1024
    assert settings.media_worker_concurrency == 2
    assert settings.embedded_worker
    assert settings.thumbnail_sizes == (256, 1024)


def test_data_dir_moves_every_derived_path() -> None:
    settings = load_settings(env_file=None, environ={"DATA_DIR": "/srv/media"})

    assert settings.upload_dir == Path("/srv/media/uploads")
    assert settings.derivatives_dir == Path("/srv/media/derivatives")
    assert settings.database_url == "sqlite:////srv/media/tusmedia.db"


def test_redis_url_switches_to_a_separate_broker() -> None:
    settings = load_settings(env_file=None, environ={"REDIS_URL": "redis://127.0.0.1:6379/3"})

    assert settings.broker_url == "redis://127.0.0.1:6379/3"
    assert not settings.embedded_worker


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_FILE_SIZE=1000\nPORT=9000\nTUS_BASE_PATH=uploads\n")

    settings = load_settings(env_file=env_file, environ={"PORT": "9001"})

    assert (settings.max_file_size, settings.port, settings.tus_base_path) == (1000, 9001, "/uploads/")


@pytest.mark.parametrize("sizes", ["", "0,256", "-5", "abc"])
def test_bad_thumbnail_sizes_are_refused(sizes: str) -> None:
    with pytest.raises(ValueError):
        load_settings(env_file=None, environ={"THUMBNAIL_SIZES": sizes})


def test_every_setting_read_is_in_example_env_and_documented() -> None:
    repo = Path(__file__).resolve().parents[2]
    names = set(re.findall(r'config\(\s*"([A-Z_]+)"', Path(config.settings.__file__).read_text()))
    example = (repo / "config" / "example.env").read_text()
    in_example = {line.split("=", 1)[0].lstrip("# ") for line in example.splitlines() if "=" in line}
    configuration_doc = (repo / "docs" / "configuration.md").read_text()

    assert len(names) > 15
    assert names <= in_example
    assert [name for name in sorted(names) if f"`{name}`" not in configuration_doc] == []
