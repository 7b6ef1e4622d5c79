"""genoattn.settings: every environment variable parsed in one place, overridable without touching os.environ."""

import re
from pathlib import Path

import pytest

from genoattn.errors import ConfigError
from genoattn.settings import Settings, current_settings, use_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_from_an_empty_environment():
    assert Settings.from_environ({}) == Settings()
    assert Settings().cache_dir == Path.home() / ".cache" / "genoattn"


def test_each_variable_parsed():
    s = Settings.from_environ({
        "TRITON_INTERPRET": "1", "GENOATTN_TRITON_BAND_TUNE": "0", "GENOATTN_TRITON_BAND_FAST_LAUNCH": "0",
        "GENOATTN_TRITON_BAND_ATOMIC_DQ": " Auto ", "GENOATTN_FLEX_NARROW": "yes", "GENOATTN_FLEX_DYNAMIC": "false",
        "GENOATTN_CACHE": "/tmp/c", "GENOATTN_NOTEBOOK_SIZE": " Tiny ", "GENOATTN_NOTEBOOK_WORKDIR": "/tmp/w",
        "GENOATTN_COMPARE_DIR": "/tmp/cmp"})
    assert s == Settings(triton_interpret=True, triton_tune=False, triton_fast_launch=False,
                         triton_band_atomic_dq="auto", flex_narrow=True, flex_dynamic=False, cache_dir=Path("/tmp/c"),
                         notebook_size="tiny", notebook_workdir=Path("/tmp/w"), compare_dir=Path("/tmp/cmp"))
    assert Settings.from_environ({"GENOATTN_FLEX_DYNAMIC": "1"}).flex_dynamic is True
    assert Settings.from_environ({"GENOATTN_FLEX_DYNAMIC": "auto"}).flex_dynamic is None
    assert Settings.from_environ({"GENOATTN_CACHE": ""}).cache_dir == Settings().cache_dir


def test_bad_notebook_size_named():
    with pytest.raises(ConfigError, match="GENOATTN_NOTEBOOK_SIZE='huge'"):
        Settings.from_environ({"GENOATTN_NOTEBOOK_SIZE": "huge"})


def test_use_settings_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("GENOATTN_FLEX_NARROW", "0")
    assert current_settings().flex_narrow is False
    with use_settings(flex_narrow=True) as outer:
        assert current_settings() is outer and outer.flex_narrow
        with use_settings(Settings(), cache_dir=Path("/x")):
            assert current_settings().cache_dir == Path("/x") and not current_settings().flex_narrow
        assert current_settings() is outer
    assert current_settings().flex_narrow is False


def test_readme_lists_every_variable():
    text = README.read_text()
    for variable, doc in Settings.variables().items():
        assert f"| `{variable}` | {doc} |" in text, variable


READ = re.compile(r"""os\.environ(?:\.get\(["']([A-Z_]+)|\[["']([A-Z_]+)["']\](?!\s*=))""")  # not assignments


def test_no_module_reads_the_environment_itself():
    """genoattn/settings.py is the one reader of genoattn's variables (those launchers and the OS set aside;
    setting a variable for a child process is not reading it)."""
    package = Path(__file__).resolve().parents[1] / "genoattn"
    read = {(p.relative_to(package).as_posix(), get or index) for p in package.rglob("*.py") if p.name != "settings.py"
            for get, index in READ.findall(p.read_text())}
    assert {name for _, name in read} <= {"LOCAL_RANK", "NODE_RANK", "TMPDIR"}, sorted(read)
