"""The installed console script answers; a guard that packaging works."""

import subprocess
import sys

from planner import __version__


def test_version_of_the_console_script_matches_the_package() -> None:
    result = subprocess.run([sys.executable, "-m", "planner", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.strip() == f"llmplan {__version__}"
