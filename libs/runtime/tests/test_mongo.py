"""The MongoDB setting: checked at start, without connecting."""

from __future__ import annotations

import pytest
from inbox_runtime.config import ConfigError
from inbox_runtime.mongo import MongoTarget, mongo_target, with_database


def test_a_uri_names_the_database_or_the_default_one() -> None:
    assert mongo_target("mongodb://mongo:27017/inbox_prod") == MongoTarget(
        "mongodb://mongo:27017/inbox_prod", "inbox_prod"
    )
    assert mongo_target("mongodb://a:1,b:2/?replicaSet=rs0").database == "inbox"


@pytest.mark.parametrize("raw", ["http://mongo:27017/inbox", "mongodb://mongo:port/inbox", "mongodb://", "inbox"])
def test_a_malformed_uri_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match="MONGODB_URI is not a usable MongoDB URI"):
        mongo_target(raw)


def test_another_database_on_the_same_server_keeps_the_options() -> None:
    assert with_database("mongodb://a:1,b:2/inbox?replicaSet=rs0&w=majority", "t1") == (
        "mongodb://a:1,b:2/t1?replicaSet=rs0&w=majority"
    )
    assert with_database("mongodb://a:1", "t2") == "mongodb://a:1/t2"
