"""Confluent's own Python client (confluent-kafka 2.x from the venv) against
mesh-registry: SchemaRegistryClient's calls and an AvroSerializer /
AvroDeserializer round trip.  Proves drop-in compatibility with the client
most of the ecosystem uses.
"""

import json

import pytest

import confluent_kafka.schema_registry as sr  # noqa: E402  (pinned by make deps)
from confluent_kafka.schema_registry import (  # noqa: E402
    Schema, SchemaRegistryClient, SchemaRegistryError)
from confluent_kafka.schema_registry.avro import (  # noqa: E402
    AvroDeserializer, AvroSerializer)
from confluent_kafka.serialization import (  # noqa: E402
    MessageField, SerializationContext)

USER_V1 = json.dumps({"type": "record", "name": "User", "namespace": "t",
                      "fields": [{"name": "id", "type": "long"},
                                 {"name": "name", "type": "string"}]})
USER_V2 = json.dumps({"type": "record", "name": "User", "namespace": "t",
                      "fields": [{"name": "id", "type": "long"},
                                 {"name": "name", "type": "string"},
                                 {"name": "email", "type": ["null", "string"],
                                  "default": None}]})
USER_BAD = json.dumps({"type": "record", "name": "User", "namespace": "t",
                       "fields": [{"name": "id", "type": "string"}]})


@pytest.fixture
def client(registry):
    return SchemaRegistryClient({"url": registry.url})


def test_register_fetch_versions(client):
    sid = client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    assert sid == 1
    assert client.register_schema("users-value",
                                  Schema(USER_V1, "AVRO")) == 1
    got = client.get_schema(sid)
    assert json.loads(got.schema_str) == json.loads(USER_V1)
    assert got.schema_type == "AVRO"
    sid2 = client.register_schema("users-value", Schema(USER_V2, "AVRO"))
    assert sid2 == 2
    latest = client.get_latest_version("users-value")
    assert (latest.schema_id, latest.version, latest.subject) == \
        (2, 2, "users-value")
    assert client.get_versions("users-value") == [1, 2]
    v1 = client.get_version("users-value", 1)
    assert v1.schema_id == 1
    found = client.lookup_schema("users-value", Schema(USER_V1, "AVRO"))
    assert found.version == 1 and found.schema_id == 1
    assert client.get_subjects() == ["users-value"]


def test_compatibility_and_config(client):
    client.register_schema("c-value", Schema(USER_V1, "AVRO"))
    assert client.test_compatibility("c-value", Schema(USER_V2, "AVRO"))
    assert not client.test_compatibility("c-value", Schema(USER_BAD, "AVRO"))
    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema("c-value", Schema(USER_BAD, "AVRO"))
    assert e.value.http_status_code == 409
    assert client.get_compatibility() == "BACKWARD"
    assert client.set_compatibility(level="FULL") == \
        {"compatibility": "FULL"}
    assert client.get_compatibility() == "FULL"
    client.set_compatibility("c-value", "NONE")
    assert client.get_compatibility("c-value") == "NONE"
    assert client.register_schema("c-value", Schema(USER_BAD, "AVRO")) == 2


def test_errors_carry_error_code(client):
    with pytest.raises(SchemaRegistryError) as e:
        client.get_latest_version("missing")
    assert e.value.error_code == 40401 and e.value.http_status_code == 404
    with pytest.raises(SchemaRegistryError) as e:
        client.get_schema(4242)
    assert e.value.error_code == 40403
    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema("x", Schema('{"type":"nope"}', "AVRO"))
    assert e.value.error_code == 42201


def test_delete_subject(client):
    client.register_schema("d-value", Schema(USER_V1, "AVRO"))
    client.register_schema("d-value", Schema(USER_V2, "AVRO"))
    assert client.delete_subject("d-value") == [1, 2]
    assert client.get_subjects() == []
    assert client.delete_subject("d-value", permanent=True) == [1, 2]
    with pytest.raises(SchemaRegistryError):
        client.get_versions("d-value")


def test_avro_serializer_round_trip(client):
    ser = AvroSerializer(client, USER_V1)
    ctx = SerializationContext("orders", MessageField.VALUE)
    data = ser({"id": 7, "name": "ada"}, ctx)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 1
    # Reader with a newer schema: the default fills the new field.
    client.register_schema("orders-value", Schema(USER_V2, "AVRO"))
    de = AvroDeserializer(client, USER_V2)
    assert de(data, ctx) == {"id": 7, "name": "ada", "email": None}
    # Writer-schema deserializer (schema fetched by id from the registry).
    assert AvroDeserializer(client)(data, ctx) == {"id": 7, "name": "ada"}
    assert client.get_latest_version("orders-value").version == 2
