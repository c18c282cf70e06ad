"""The repository's install paths agree: pyproject.toml, environment.yml, the Makefile, the README
and CI all describe the same environment and the same two commands."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PINNED_TORCH = "2.13.0"


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _conda_and_pip(environment: dict) -> tuple[list[str], list[str]]:
    conda = [dep for dep in environment["dependencies"] if isinstance(dep, str)]
    pip = [dep for dep in environment["dependencies"] if isinstance(dep, dict)]
    assert len(pip) == 1 and list(pip[0]) == ["pip"], f"expected one pip section, got {pip}"
    return conda, pip[0]["pip"]


def _torch_spec(requirements: list[str]) -> SpecifierSet:
    specs = [Requirement(r).specifier for r in requirements if Requirement(r).name == "torch"]
    assert len(specs) == 1, f"expected exactly one torch requirement in {requirements}"
    return specs[0]


def test_environment_installs_this_package_with_existing_extras(pyproject, environment):
    _, pip = _conda_and_pip(environment)
    editable = [line for line in pip if line.startswith("-e ")]
    assert len(editable) == 1, f"expected one '-e .[...]' line, got {pip}"
    match = re.fullmatch(r"-e \.\[([\w,-]+)\]", editable[0].strip())
    assert match, f"expected '-e .[extra,...]', got {editable[0]!r}"
    extras = set(match.group(1).split(","))
    makefile = re.search(r'install -e "\.\[([\w,-]+)\]"', (ROOT / "Makefile").read_text())
    assert extras == set(makefile.group(1).split(",")), "environment.yml and make differ"
    assert extras <= set(pyproject["project"]["optional-dependencies"])


def test_environment_python_satisfies_requires_python(pyproject, environment):
    conda, _ = _conda_and_pip(environment)
    pythons = [dep for dep in conda if re.match(r"python\b", dep)]
    assert len(pythons) == 1, f"expected one python pin, got {conda}"
    version = pythons[0].split("=", 1)[1].lstrip("=")
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    assert Version(version) in requires, f"python {version} not in {requires}"


def test_torch_range_is_the_same_everywhere_and_admits_the_pin(pyproject, environment):
    _, pip = _conda_and_pip(environment)
    ours = _torch_spec(pyproject["project"]["dependencies"])
    theirs = _torch_spec([line for line in pip if not line.startswith("-")])
    assert ours == theirs
    assert Version(PINNED_TORCH) in ours
    assert len(ours) >= 1 and not any(s.operator == "==" for s in ours), "expected a range"


def test_makefile_installs_pinned_torch_before_the_package():
    lines = (ROOT / "Makefile").read_text().splitlines()
    torch = [i for i, line in enumerate(lines) if f'"torch=={PINNED_TORCH}"' in line]
    package = [i for i, line in enumerate(lines) if re.search(r"install -e \"?\.\[", line)]
    assert torch and package, "expected a torch pin and an editable install in the Makefile"
    for previous, install in zip([-1, *package], package, strict=False):  # one per environment
        assert any(previous < line < install for line in torch), lines[install]


def test_readme_and_ci_use_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\b", ci, re.MULTILINE)
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("make test" in run for run in steps)


def test_importing_nfp_lib_does_not_import_keras():
    code = (
        "import sys, nfp_lib; print(sorted(m for m in sys.modules if m.split('.')[0] == 'keras'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]", result.stdout
