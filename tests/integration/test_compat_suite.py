"""The compatibility case suite, cross-checked against an independent checker.

Every directory under tests/data/compat holds writer.avsc, reader.avsc and
`expected` (`compatible` or `incompatible TYPE LOCATION`, the first
incompatibility as Java's Avro 1.12 SchemaCompatibility reports it).  For each
case this test runs our C checker (the av_compat_tool helper) and Debian's
python3-avro `ReaderWriterCompatibilityChecker`, and asserts that:
  - the C checker prints exactly the expected line;
  - python3-avro agrees on compatible/incompatible and on the first error type,
    except for the cases in KNOWN_DIFFERENCES, where python3-avro departs from
    Java (we follow Java, which Confluent runs); those must still differ, so
    the list cannot go stale silently.
tests/data/compat/README.md explains each known difference at more length.
"""
import pathlib
import subprocess
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "data" / "compat"
# Every case directory, with or without its `expected` file: a case that
# lost it fails (test_case) instead of silently dropping out of the suite.
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())

# case -> why python3-avro 1.11.1 answers differently from Java.
KNOWN_DIFFERENCES = {
    "field_alias_ambiguous":
        "Java throws when a reader field's name and aliases match several "
        "writer fields (Confluent reports 'Unexpected exception during "
        "compatibility check'); python3-avro takes the direct match.",
    "field_alias_equals_own_name":
        "Java counts a field alias equal to the field's own name as a second "
        "match and throws, as above; python3-avro takes the direct match.",
    "record_alias_unqualified_same_namespace":
        "Java resolves a record alias against the record's namespace "
        "('Old' in namespace a is a.Old); python3-avro compares the alias as "
        "written with the writer's full name, so it reports NAME_MISMATCH.",
    "record_alias_unqualified_writer_no_namespace":
        "The same alias rule the other way: for Java the alias is a.Old and "
        "the writer is Old (NAME_MISMATCH); python3-avro matches 'Old'.",
    "record_dotted_names_differ_in_namespace":
        "Java compares unqualified names (R == R); python3-avro compares the "
        "'name' attribute as written ('a.R' != 'b.R').",
    "record_dotted_vs_namespace_attr":
        "Same as above: 'a.R' written as a full name versus name 'R' with "
        "namespace 'a'; Java sees R == R.",
}


def _python_avro():
    # python3-avro is one of make deps's Debian packages: missing, it is a
    # broken setup and the ImportError fails the case.
    import avro.compatibility
    import avro.schema
    return avro


def python_verdict(case):
    """'compatible' or 'incompatible TYPE' from python3-avro."""
    avro = _python_avro()
    d = CASES_DIR / case
    with warnings.catch_warnings():
        # python3-avro warns about logical types it does not know.
        warnings.simplefilter("ignore")
        writer = avro.schema.parse((d / "writer.avsc").read_text())
        reader = avro.schema.parse((d / "reader.avsc").read_text())
    checker = avro.compatibility.ReaderWriterCompatibilityChecker()
    res = checker.get_compatibility(reader, writer)
    compatible = avro.compatibility.SchemaCompatibilityType.compatible
    if res.compatibility is compatible:
        return "compatible"
    return "incompatible " + res.incompatibilities[0].name.upper()


def c_verdict(tools, case):
    d = CASES_DIR / case
    proc = subprocess.run(
        [str(tools / "av_compat_tool"), str(d / "writer.avsc"),
         str(d / "reader.avsc")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def tool(tools):
    # make test builds every tests/tools program: missing is a failure.
    assert (tools / "av_compat_tool").exists(), \
        f"{tools / 'av_compat_tool'} not built (make test-build)"
    return tools


def test_suite_size_and_known_differences_exist():
    assert len(CASES) >= 100
    assert set(KNOWN_DIFFERENCES) <= set(CASES)
    readme = (CASES_DIR / "README.md").read_text()
    for case in KNOWN_DIFFERENCES:
        assert case in readme, f"{case} is not explained in README.md"


@pytest.mark.parametrize("case", CASES)
def test_case(tool, case):
    d = CASES_DIR / case
    for name in ("writer.avsc", "reader.avsc", "expected"):
        assert (d / name).is_file(), f"{case}: {name} missing"
    expected = (d / "expected").read_text().strip()
    got = c_verdict(tool, case)
    assert got == expected

    ours = " ".join(got.split()[:2])  # drop the location
    theirs = python_verdict(case)
    if case in KNOWN_DIFFERENCES:
        assert theirs != ours, (
            f"python3-avro now agrees ({theirs}); drop {case} from "
            "KNOWN_DIFFERENCES and README.md")
    else:
        assert theirs == ours


def test_tool_rejects_bad_input(tool, tmp_path):
    good = CASES_DIR / CASES[0] / "writer.avsc"
    bad = tmp_path / "bad.avsc"
    bad.write_text('{"type": "record", "name": "R", "fields": '
                   '[{"name": "a", "type": "int", "default": "x"}]}')
    for args in ([str(good), str(tmp_path / "missing.avsc")],
                 [str(bad), str(good)],
                 [str(good)]):
        proc = subprocess.run([str(tool / "av_compat_tool"), *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stdout == ""


def test_tool_verbose_prints_confluent_messages(tool):
    d = CASES_DIR / "field_type_then_missing"
    proc = subprocess.run(
        [str(tool / "av_compat_tool"), str(d / "writer.avsc"),
         str(d / "reader.avsc"), "-v"],
        capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.splitlines() == [
        "incompatible TYPE_MISMATCH /fields/0/type",
        "{errorType:'TYPE_MISMATCH', description:'The type (path "
        "'/fields/0/type') of a field in the new schema does not match with "
        "the old schema', additionalInfo:'reader type: STRING not compatible "
        "with writer type: INT'}",
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The "
        "field 'b' at path '/fields/1' in the new schema has no default value "
        "and is missing in the old schema', additionalInfo:'b'}",
    ]
