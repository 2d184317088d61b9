"""Checks on the build's shape rather than its behaviour: the layering and
naming rules of STYLE.md, and generated docs that must match the code.

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

# library file name (folder with '/' -> '_') -> allowed symbol prefixes
PREFIXES = {
    "libcommon.a": ("mw_",),
    "libbroker-adapters_kafka.a": ("bk_",),
    "libbroker-adapters_embedded.a": ("eb_",),
    "libschema-registry_client.a": ("sr_",),
    "libschema-registry_server.a": ("sr_",),
    "libschema-registry_cli.a": ("ctl_",),
    "libproducers.a": ("pr_",),
    "libconsumers.a": ("mat_",),
}

# folder -> prefixes of our headers it must not include (upper layers)
LAYERS = {
    "common": ("bk_", "eb_", "sr_", "ctl_", "pr_", "mat_"),
    "broker-adapters/kafka": ("eb_", "sr_", "ctl_", "pr_", "mat_"),
    "broker-adapters/embedded": ("sr_", "ctl_", "pr_", "mat_"),
    "schema-registry/client": ("ctl_", "pr_", "mat_"),
}


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


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_includes_point_down(folder):
    banned = LAYERS[folder]
    offenders = []
    for src in (ROOT / folder).glob("*.[ch]"):
        for inc in re.findall(r'#\s*include\s*"([^"]+)"', src.read_text()):
            if inc.startswith(banned):
                offenders.append(f"{src.name} includes {inc}")
    assert not offenders, f"{folder} reaches up a layer: {offenders}"


def test_configuration_doc_is_generated_from_the_key_tables(bins):
    gen = subprocess.run(["sh", str(ROOT / "docs/gen-config.sh"),
                          str(bins.parent)], capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    doc = (ROOT / "docs/CONFIGURATION.md").read_text()
    assert gen.stdout == doc, \
        "docs/CONFIGURATION.md is stale: run `make docs` and commit it"
