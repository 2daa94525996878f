"""`make browser` (scripts/ensure-chromium.sh) vouches for the very Chromium that the suite and
`make screenshots` start: ${E2E_CHROMIUM:-/usr/bin/chromium}, not any `chromium` on PATH."""

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "ensure-chromium.sh"


def ensure_chromium(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [SCRIPT],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_a_chromium_on_the_path_does_not_stand_in_for_the_one_the_tests_start(tmp_path: Path):
    elsewhere = executable(tmp_path / "bin" / "chromium")
    missing = tmp_path / "nowhere" / "chromium"

    result = ensure_chromium(
        PATH=f"{elsewhere.parent}{os.pathsep}{os.environ['PATH']}", E2E_CHROMIUM=str(missing)
    )

    assert result.returncode == 1
    assert f"E2E_CHROMIUM={missing} is not an executable file" in result.stderr
    assert "Installing" not in result.stdout  # Debian's package would not land there


def test_the_chromium_the_tests_start_is_taken_as_it_is(tmp_path: Path):
    chromium = executable(tmp_path / "chromium")

    result = ensure_chromium(E2E_CHROMIUM=str(chromium))

    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""
