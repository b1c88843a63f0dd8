"""The documentation site: it builds under `mkdocs build --strict`, its API reference covers every
public name, and the README and the hand-written pages keep to what a reader can use.

The site is built once per session, in this process (about 15 s); the API coverage test reads the HTML it wrote,
so a name counts as documented only when mkdocstrings rendered it.
"""

import importlib
import logging
import os
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PACKAGE = REPO / "keras_gpos"
# Modules that only forward an old import path to its new place (keras_gpos.base.deprecation).
DEPRECATED = {"compiled", "files", "graph", "registry", "validation"}


def public_modules():
    """keras_gpos, each of its subpackages, and each module of the base floor (whose package
    re-exports nothing, so its modules are the public surface)."""
    names = ["keras_gpos"]
    names += sorted(f"keras_gpos.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py"))
    names += sorted(f"keras_gpos.base.{p.stem}" for p in (PACKAGE / "base").glob("*.py") if p.stem != "__init__")
    return names


def hand_written_pages():
    """README.md and every page under docs/ except the generated reports (docs/results/*/...)."""
    pages = [REPO / "README.md", DOCS / "results" / "README.md"]
    pages += sorted(p for p in DOCS.rglob("*.md") if "results" not in p.relative_to(DOCS).parts)
    return pages


def build_strict(config_file, site):
    """Builds a site in this process as `mkdocs build --strict` does; a warning fails the test, quoted."""
    try:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import Abort
    except ImportError:
        pytest.fail("mkdocs is not installed: pip install -e '.[test]' (the test extra holds the site's builder)")
    # Strict mode counts the warnings that reach the "mkdocs" logger: a logging setup run earlier in this
    # process (dictConfig disables the loggers it does not name) must not hide them.
    for name, logger in logging.root.manager.loggerDict.items():
        if name.split(".")[0] == "mkdocs" and isinstance(logger, logging.Logger):
            logger.disabled, logger.propagate = False, True
    warnings = _Collect()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(warnings)
    previous = os.environ.get("NO_MKDOCS_2_WARNING")
    os.environ["NO_MKDOCS_2_WARNING"] = "1"
    try:
        build(load_config(str(config_file), site_dir=str(site), strict=True))
    except Abort as error:
        pytest.fail(f"mkdocs build --strict failed ({error}):\n" + "\n".join(warnings.messages)[-6000:])
    finally:
        logger.removeHandler(warnings)
        if previous is None:
            os.environ.pop("NO_MKDOCS_2_WARNING", None)
        else:
            os.environ["NO_MKDOCS_2_WARNING"] = previous
    return site


class _Collect(logging.Handler):
    """Keeps the text of every warning the build logs."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    return build_strict(REPO / "mkdocs.yml", tmp_path_factory.mktemp("site"))


def test_a_warning_fails_the_strict_build_in_this_process(tmp_path):
    # The in-process build must fail where `mkdocs build --strict` fails: a link to a missing page.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the guide](missing.md).\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: probe\n")
    pytest.importorskip("mkdocs.commands.build")
    for name, logger in logging.root.manager.loggerDict.items():  # as a dictConfig run earlier would leave them
        if name.split(".")[0] == "mkdocs" and isinstance(logger, logging.Logger):
            logger.disabled = True
    with pytest.raises(pytest.fail.Exception, match=r"strict mode[\s\S]*missing\.md"):
        build_strict(tmp_path / "mkdocs.yml", tmp_path / "site")


def test_the_site_builds_under_strict(built_site):
    for page in ("index.html", "getting-started/index.html", "findings/index.html", "api/layers/index.html"):
        assert (built_site / page).is_file(), f"{page} was not built"


def test_every_public_module_defines_all():
    missing = [name for name in public_modules() if not isinstance(
        getattr(importlib.import_module(name), "__all__", None), (list, tuple))]
    assert not missing, f"public modules without __all__: {missing}"


def test_every_name_in_all_is_in_the_api_reference(built_site):
    anchors = set()
    for page in (built_site / "api").rglob("*.html"):
        anchors |= set(re.findall(r'id="(keras_gpos[\w.]*)"', page.read_text()))
    missing = []
    for name in public_modules():
        module = importlib.import_module(name)
        for member in module.__all__:
            obj = getattr(module, member)
            # A name whose module has the same name (keras_gpos.audit.position_audit) is documented
            # at its defining path.
            defined_at = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            if f"{name}.{member}" not in anchors and defined_at not in anchors:
                missing.append(f"{name}.{member}")
    assert not missing, f"names in __all__ that docs/api/ does not document: {missing}"


@pytest.mark.backend_agnostic
def test_the_readme_stays_a_front_door():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 200, "README.md grew past 200 lines: move the detail into docs/"
    # The README's two set-up commands, as CI (.ci/run) runs the second.
    assert ('.venv/bin/pip install -e ".[tf]" && .venv/bin/python train.py --flagfile=flags/quickstart.cfg' in text)
    ci = (REPO / ".ci" / "run").read_text()
    command = re.search(r'\.venv/bin/pip install -q -e "\.\[[^\]]*\]" && \.venv/bin/python -m pytest -q', ci).group(0)
    assert command in text, f"the README's test command differs from .ci/run's: {command}"
    assert "@inproceedings" in text and "arxiv.org/abs/2108.07884" in text


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("page", hand_written_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_process_words_and_no_paths_outside_the_repository(page):
    text = page.read_text()
    assert not re.search(r"\bissues? #?\d+|\bthe issue'?s?\b|\bfinding \d+", text, re.I), \
        f"{page.name} names an issue or a finding of the tracker"
    assert "../shared" not in text, f"{page.name} names a path outside the repository"


@pytest.mark.backend_agnostic
def test_flagfile_comments_name_no_issue():
    for flagfile in sorted((REPO / "flags").rglob("*.cfg")):
        comments = "\n".join(line for line in flagfile.read_text().splitlines() if line.startswith("#"))
        assert not re.search(r"\bissues? #?\d+", comments, re.I), f"{flagfile} names an issue"


@pytest.mark.backend_agnostic
def test_the_readmes_links_point_at_files_in_the_repository():
    for page in (REPO / "README.md", DOCS / "results" / "README.md"):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            assert (page.parent / target).exists(), f"{page.name} links {target}, which does not exist"


@pytest.mark.backend_agnostic
def test_every_test_the_reliability_page_names_exists():
    names = set(re.findall(r"`(test_\w+)`", (DOCS / "reliability.md").read_text()))
    assert names, "the reliability page names no tests"
    defined = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        defined |= set(re.findall(r"^\s*def (test_\w+)", path.read_text(), re.M))
    assert not names - defined, f"the reliability page names tests that do not exist: {sorted(names - defined)}"


EXPERIMENT_PAGES = sorted(p.stem for p in (DOCS / "experiments").glob("*.md") if p.stem != "index")


@pytest.mark.parametrize("experiment", EXPERIMENT_PAGES)
def test_each_experiment_page_lists_exactly_its_flags(experiment):
    from keras_gpos.experiments import flags

    expected = set(re.findall(r"^  --(\w+):", flags.help_text(experiment), re.M)) - {"debug", "flagfile"}
    page = (DOCS / "experiments" / f"{experiment}.md").read_text()
    listed = set(re.findall(r"^\| `--(\w+)` \|", page, re.M))
    assert listed == expected, (
        f"docs/experiments/{experiment}.md's flag table differs from --experiment={experiment} --help: "
        f"missing {sorted(expected - listed)}, not a flag {sorted(listed - expected)}")
