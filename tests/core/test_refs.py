"""Names, ids and ``name@version`` references: one parser, whole-text matches, clear errors
for refs that used to end in a traceback or be accepted."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.core.hashing import hash_bytes, is_digest
from loopml.core.ids import is_hex_id, new_run_id
from loopml.core.refs import MAX_VERSION, Ref, check_name, check_version, parse_ref
from loopml.data.refs import DatasetRef
from loopml.data.refs import parse_ref as parse_dataset_ref
from loopml.data.splits import check_fractions
from loopml.registry.refs import ModelRef, check_alias, check_model_name, parse_model_ref
from loopml.tracking.keys import check_key


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("credit", Ref("credit")),
        ("credit@latest", Ref("credit")),
        ("credit@3", Ref("credit", version=3)),
        ("credit@007", Ref("credit", version=7)),
        (f"credit@{MAX_VERSION}", Ref("credit", version=MAX_VERSION)),
        ("credit@champion", Ref("credit", tag="champion")),
        ("a.b-c_d@2", Ref("a.b-c_d", version=2)),
    ],
)
def test_refs_parse(ref: str, parsed: Ref) -> None:
    assert parse_ref(ref, noun="model") == parsed


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("credit\n", r"Dataset name 'credit\\n' is not valid"),
        ("\ncredit", r"Dataset name '\\ncredit' is not valid"),
        ("credit\n@3", r"Dataset name 'credit\\n' is not valid"),
        ("ds@²", r"Dataset reference 'ds@²' has a bad version '²'"),
        ("ds@٣", r"Dataset reference 'ds@٣' has a bad version '٣'"),  # an Arabic-Indic 3
        ("ds@3\n", r"has a bad version '3\\n'"),
        ("ds@0", r"has version 0: versions are whole numbers from 1 to 2147483647"),
        ("ds@-2", r"has version -2: versions are whole numbers from 1"),
        ("ds@99999999999999999999", r"has version 99999999999999999999: .* to 2147483647"),
        ("ds@" + "9" * 5000, r"has version 9999.*: versions are whole numbers"),
        ("ds@", r"has a bad version ''"),
        ("", r"Dataset name '' is not valid"),
    ],
)
def test_bad_dataset_refs_are_refused_by_name(ref: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_dataset_ref(ref)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("credit-default\n", r"Model name 'credit-default\\n' is not valid"),
        ("m@²", r"Model reference 'm@²' is not 'name@version', 'name@alias' or 'name@latest'"),
        ("m@champion\n", r"Model reference 'm@champion\\n' is not 'name@version'"),
        ("m@99999999999999999999", r"Model reference .* has version 99999999999999999999"),
        ("m@Champion", r"is not 'name@version', 'name@alias' or 'name@latest' \(e.g. 'm@3'"),
        (3, r"A model reference is text like 'credit-default@3'"),
    ],
)
def test_bad_model_refs_are_refused_by_name(ref: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_model_ref(ref)


def test_both_services_read_refs_the_same_way() -> None:
    assert parse_dataset_ref("credit@3") == DatasetRef("credit", 3)
    assert parse_model_ref("credit@3") == ModelRef("credit", version=3)
    assert parse_dataset_ref("credit") == DatasetRef("credit", None)
    assert parse_model_ref("credit@latest") == ModelRef("credit")
    assert parse_model_ref("credit@champion") == ModelRef("credit", alias="champion")
    assert str(parse_model_ref("credit@champion")) == "credit@champion"
    for bad, why in (("credit\n", "name"), ("credit@0", "version 0"), ("credit@²", "²")):
        with pytest.raises(InvalidArgumentError, match=rf"Dataset .*{why}"):
            parse_dataset_ref(bad)
        with pytest.raises(InvalidArgumentError, match=rf"Model .*{why}"):
            parse_model_ref(bad)


@pytest.mark.parametrize("alias", ["champion\n", "champion\r\n", "\nchampion", "latest"])
def test_an_alias_is_the_whole_text(alias: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"Alias .* is not valid"):
        check_alias(alias)
    assert check_alias("champion") == "champion"


@pytest.mark.parametrize("name", ["credit\n", "credit default", "-credit", "x" * 251, None])
def test_names_are_the_whole_text(name: object) -> None:
    with pytest.raises(InvalidArgumentError, match="name .* is not valid: use 1-250 letters"):
        check_model_name(name)
    with pytest.raises(InvalidArgumentError, match="Dataset name"):
        check_name(name, noun="dataset")


@pytest.mark.parametrize("version", [0, -1, 2**31, 2**70, True, 1.0, "3", None])
def test_a_version_number_is_an_int_in_range(version: object) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"A model version is a whole number from 1 to 2147483647"
    ):
        check_version(version, noun="model")
    assert check_version(MAX_VERSION, noun="model") == MAX_VERSION


def test_ids_and_digests_are_the_whole_text() -> None:
    run_id = new_run_id()
    assert is_hex_id(run_id) and not is_hex_id(run_id + "\n")
    digest = hash_bytes(b"loopml")
    assert is_digest(digest) and not is_digest(digest + "\n")


def test_keys_and_split_names_are_the_whole_text() -> None:
    with pytest.raises(InvalidArgumentError, match=r"has characters the store cannot keep"):
        check_key("metric", "auc\n")
    assert check_key("metric", "val/auc: fold 1") == "val/auc: fold 1"
    with pytest.raises(InvalidArgumentError, match=r"Split name 'train\\n' must be"):
        check_fractions({"train\n": 0.8, "test": 0.2})
    assert check_fractions({"train": 0.8, "test": 0.2}) == {"train": 0.8, "test": 0.2}
