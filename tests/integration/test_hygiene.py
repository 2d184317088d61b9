"""Checks on the build's shape rather than its behaviour: the layering and
naming rules of docs/STYLE.md, and generated docs that must match the code.

- every symbol a folder's library exports carries that folder's prefix
  (a static that escaped, or a name that would clash between modules,
  fails here);
- nothing above broker-adapters/ includes rdkafka.h (bench/ measures raw
  librdkafka on purpose);
- includes only point down the layers;
- docs/CONFIGURATION.md is what `make docs` generates from the key tables.
"""

import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Every library folder, lowest layer first: its symbol prefix, and the
# prefixes of our headers it may include (its own and lower layers').  A
# folder missing here fails test_every_folder_is_layered.
FOLDERS = {
    "common": ("mw_", ()),
    "broker-adapters/kafka": ("bk_", ("mw_",)),
    "broker-adapters/embedded": ("eb_", ("mw_", "bk_")),
    "schema-registry/avro": ("av_", ("mw_",)),
    "schema-registry/client": ("sr_", ("mw_", "av_")),
    "schema-registry/product": ("dp_", ("mw_", "av_")),
    "schema-registry/policy": ("gov_", ("mw_", "av_", "dp_")),
    "schema-registry/server": ("reg_", ("mw_", "bk_", "av_", "sr_", "dp_",
                                        "gov_")),
    "schema-registry/cli": ("ctl_", ("mw_", "bk_", "av_", "sr_", "dp_",
                                     "gov_")),
    "producers": ("pr_", ("mw_", "bk_", "av_", "sr_")),
    "consumers": ("mat_", ("mw_", "bk_", "av_", "sr_")),
}
OUR_PREFIXES = tuple(prefix for prefix, _ in FOLDERS.values())
# library file name (folder with '/' -> '_') -> allowed symbol prefix
PREFIXES = {f"lib{folder.replace('/', '_')}.a": (prefix,)
            for folder, (prefix, _) in FOLDERS.items()}


def c_sources():
    out = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [ROOT / p for p in out.split()]


def test_exported_symbols_carry_the_folder_prefix(bins):
    libdir = bins.parent / "lib"
    libs = sorted(libdir.glob("lib*.a"))
    assert libs, f"no libraries in {libdir}"
    bad = []
    for lib in libs:
        allowed = PREFIXES.get(lib.name)
        assert allowed, f"{lib.name}: folder missing from PREFIXES"
        nm = subprocess.run(["nm", "-g", "--defined-only", str(lib)],
                            capture_output=True, text=True, check=True)
        for line in nm.stdout.splitlines():
            parts = line.split()
            # "__odr_asan.x" and friends are made by the sanitizer build.
            if len(parts) == 3 and not parts[2].startswith(allowed) \
                    and not parts[2].startswith("__"):
                bad.append(f"{lib.name}: {parts[2]}")
    assert not bad, "symbols without their folder's prefix:\n" + "\n".join(bad)


def test_only_broker_adapters_include_rdkafka():
    offenders = []
    for src in c_sources():
        rel = src.relative_to(ROOT).as_posix()
        if rel.startswith(("broker-adapters/", "bench/")):
            continue
        if re.search(r'#\s*include\s*[<"]librdkafka/', src.read_text()):
            offenders.append(rel)
    assert not offenders, f"rdkafka.h included above the adapters: {offenders}"


def test_every_folder_is_layered():
    """The Makefile's library folders are exactly the folders checked here."""
    make = (ROOT / "Makefile").read_text()
    block = re.search(r"^LIBDIRS :=((?:.*\\\n)*.*)$", make, re.M).group(1)
    libdirs = block.replace("\\", " ").split()
    assert libdirs == list(FOLDERS), \
        f"Makefile LIBDIRS {libdirs} != FOLDERS {list(FOLDERS)}"


@pytest.mark.parametrize("folder", list(FOLDERS))
def test_includes_point_down(folder):
    own, allowed = FOLDERS[folder]
    allowed = (own,) + allowed
    offenders = []
    sources = sorted((ROOT / folder).glob("*.[ch]"))
    assert sources, f"{folder} has no sources"
    for src in sources:
        for inc in re.findall(r'#\s*include\s*"([^"]+)"', src.read_text()):
            if inc.startswith(OUR_PREFIXES) and not inc.startswith(allowed):
                offenders.append(f"{src.name} includes {inc}")
    assert not offenders, f"{folder} reaches up or sideways: {offenders}"


def test_configuration_doc_is_generated_from_the_key_tables(bins):
    gen = subprocess.run(["sh", str(ROOT / "docs/gen-config.sh"),
                          str(bins.parent)], capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    doc = (ROOT / "docs/CONFIGURATION.md").read_text()
    assert gen.stdout == doc, \
        "docs/CONFIGURATION.md is stale: run `make docs` and commit it"
