"""adbutils is imported without `requests` (harness/device/adb.py: imported_adbutils), and the
parts of adbutils that use it still get the real module when they run."""

import subprocess
import sys
import textwrap


def run_python(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.split()


def test_adbutils_is_imported_without_requests():
    [loaded] = run_python("""
        import sys
        from harness.device.adb import imported_adbutils
        imported_adbutils()
        print('requests' in sys.modules)
    """)
    assert loaded == "False"


def test_adbutils_gets_the_real_requests_when_it_uses_it():
    stand_in_gives_real, later_import_is_real, same_function = run_python("""
        import sys, types
        from harness.device.adb import imported_adbutils
        adbutils = imported_adbutils()
        stand_in = adbutils.install.requests
        print(stand_in.get.__module__ == 'requests.api')
        import requests
        print(type(requests) is types.ModuleType and requests.__file__.endswith('__init__.py'))
        print(stand_in.exceptions.RequestException is requests.exceptions.RequestException)
    """)
    assert (stand_in_gives_real, later_import_is_real, same_function) == ("True", "True", "True")


def test_requests_imported_first_is_left_alone():
    [same] = run_python("""
        import requests
        from harness.device.adb import imported_adbutils
        print(imported_adbutils().install.requests is requests)
    """)
    assert same == "True"
