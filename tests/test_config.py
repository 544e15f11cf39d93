"""Every FASTNN_* environment variable is validated at import (fastnn._config)."""

import os
import subprocess
import sys

import pytest

from fastnn import _config


@pytest.mark.parametrize(
    "name, value, accepted",
    [
        ("FASTNN_KERNEL_CACHE", "flase", "accepted: 1, true, yes, on (enable) or 0, false, no, off"),
        ("FASTNN_ROW_KERNELS", "simd", "accepted: 'intrinsics' or 'loops'"),
        ("FASTNN_DATA_CACHE", __file__, "(it is a file, not a directory)"),
        ("FASTNN_FLUSH_DENORMALS", "2", "accepted: 1, true, yes, on (enable) or 0, false, no"),
        ("FASTNN_ROW_ALIGN", "0", "accepted: an integer from 1 to 64"),
        ("FASTNN_ROW_ALIGN", "8.0", "accepted: an integer from 1 to 64"),
        ("FASTNN_FASTMATH", "reassoc,afn", "unknown flag(s) ['afn']"),
        ("FASTNN_FASTMATH", "fast", "must not contain ['fast']"),
        ("FASTNN_DOWNLOAD_TIMEOUT", "-1", "accepted: seconds > 0: one number for both, or CONNECT,READ"),
        ("FASTNN_MIRRORS", "ftp://example.org/", "'ftp://example.org/' is not an http://, https:// or file:// URL"),
        ("FASTNN_DATA", __file__, "(it is a file, not a directory); accepted: a directory"),
        ("FASTNN_CACHE_DIR", __file__, "(it is a file, not a directory)"),
    ],
)
def test_invalid_values_name_the_variable_the_value_and_what_is_accepted(name, value, accepted):
    with pytest.raises(ValueError) as info:
        _config.validate_environment({name: value})
    msg = str(info.value)
    assert msg.startswith(f"environment variable {name}={value!r} is not valid")
    assert accepted in msg
    assert msg.count("accepted:") <= 1  # said once


@pytest.mark.parametrize(
    "name, value, parsed",
    [
        ("FASTNN_KERNEL_CACHE", " Off ", False),
        ("FASTNN_CACHE", "yes", True),  # the old name
        ("FASTNN_FLUSH_DENORMALS", "", True),  # empty is unset: the default
        ("FASTNN_ROW_KERNELS", "Loops", "loops"),
        ("FASTNN_ROW_ALIGN", "16", 16),
        ("FASTNN_FASTMATH", "nsz, contract", {"nsz", "contract"}),
        ("FASTNN_FASTMATH", "none", False),
        ("FASTNN_DOWNLOAD_TIMEOUT", "2.5", (2.5, 2.5)),
        ("FASTNN_MIRRORS", "", ()),  # empty disables downloads
        ("FASTNN_MIRRORS", "https://a/ ,http://b/", ("https://a/", "http://b/")),
        ("FASTNN_DATA", "/does/not/exist/yet", "/does/not/exist/yet"),
    ],
)
def test_valid_values(name, value, parsed):
    _config.validate_environment({name: value})
    result = _config.setting(name, {name: value})
    assert (str(result) if name == "FASTNN_DATA" else result) == parsed


def test_unknown_variable_warns_with_the_closest_name():
    with pytest.warns(RuntimeWarning, match=r"unknown environment variable FASTNN_FASTMAHT='off' is "
                                            r"ignored; did you mean FASTNN_FASTMATH\?"):
        _config.validate_environment({"FASTNN_FASTMAHT": "off", "HOME": "/root"})


def test_every_variable_fastnn_reads_is_declared():
    """A FASTNN_* name in the source that _config does not declare escapes validation."""
    import re
    from pathlib import Path

    root = Path(_config.__file__).parent
    names = set()
    for path in root.rglob("*.py"):
        names |= set(re.findall(r"\bFASTNN_[A-Z_]+[A-Z]\b", path.read_text()))
    assert names <= set(_config._VARIABLES), names - set(_config._VARIABLES)


def test_import_fails_on_an_invalid_value():
    env = {**os.environ, "FASTNN_KERNEL_CACHE": "flase"}
    result = subprocess.run([sys.executable, "-c", "import fastnn"], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ValueError: environment variable FASTNN_KERNEL_CACHE='flase' is not valid; accepted: 1, true, "
        "yes, on (enable) or 0, false, no, off (disable)"
    )
