"""mesh-producer's http source: the Confluent REST Proxy v2 produce call.

Shown here:
  - 10,000 records posted over keep-alive in batches of 500 are in Kafka and
    decode through the registry to exactly the posted values, in posting
    order per partition, with mesh.source / mesh.position / traceparent;
  - a request with one bad record gets 422 (42203) naming the field path and
    leaves nothing in Kafka; malformed JSON, wrong content type, unknown
    topic, unknown partition, bad inline schema and an oversized body each
    get their precise 4xx, and the daemon keeps serving;
  - brokers going down and up during a run of posts: every record answered
    with a null error_code is in the topic afterwards (503s are allowed);
  - one end-to-end run against real Apache Kafka.
"""

import collections
import json
import threading
import time
import uuid

import pytest
import requests

from producer import read_topic

AVRO = "application/vnd.kafka.avro.v2+json"
JSON_V2 = "application/vnd.kafka.json.v2+json"

ORDER_SCHEMA = {
    "type": "record", "name": "Order", "namespace": "meshwork.test",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


def order(i):
    """(Avro JSON encoding posted, value as the deserializer returns it)."""
    note = None if i % 3 else f"note {i}"
    posted = {"id": i, "customer": f"c{i % 97}", "amount": i * 0.5,
              "note": None if note is None else {"string": note}}
    return posted, {"id": i, "customer": f"c{i % 97}", "amount": i * 0.5,
                    "note": note}


def start(make_producer, bootstrap, registry, **extra):
    sets = {"source": "http", "registry.url": registry.url,
            "kafka.bootstrap.servers": bootstrap, "kafka.linger.ms": "5"}
    sets.update({k: str(v) for k, v in extra.items()})
    return make_producer(sets=sets)


def post(session, prod, topic, body, content_type=AVRO, headers=None,
         timeout=60, raw=None):
    h = {"Content-Type": content_type,
         "Accept": "application/vnd.kafka.v2+json"}
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body)
    return session.post(f"{prod.http}/topics/{topic}", data=data, headers=h,
                        timeout=timeout)


def header_map(headers):
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, dict) else headers
    return {k: (v.decode() if isinstance(v, (bytes, bytearray)) else v)
            for k, v in items}


def topic_record_count(bootstrap, topic, partitions, timeout):
    """Records in the topic: the sum of the high watermarks (an idempotent
    producer without transactions writes one offset per record)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap,
                  "group.id": f"wm-{uuid.uuid4().hex[:8]}"})
    try:
        return sum(c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=timeout)[1]
                   for p in range(partitions))
    finally:
        c.close()


def assert_error(resp, status, code, *fragments):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code, body
    for f in fragments:
        assert f in body["message"], body


def test_http_10k_records_roundtrip(mesh_broker, registry, make_producer,
                                    unique_topic, timeout):
    mesh_broker.create_topic(unique_topic, 3)
    status, reg = registry.register(f"{unique_topic}-value", ORDER_SCHEMA)
    assert status == 200, reg
    schema_id = reg["id"]
    prod = start(make_producer, mesh_broker.bootstrap, registry,
                 headers="all")
    expected, acked = {}, {}
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with requests.Session() as s:
        for batch in range(20):
            ids = range(batch * 500, (batch + 1) * 500)
            records = [{"key": f"k{i % 50}", "value": order(i)[0]}
                       for i in ids]
            resp = post(s, prod, unique_topic, {"records": records},
                        headers={"traceparent": trace} if batch == 7 else None,
                        timeout=timeout(60))
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["value_schema_id"] == schema_id
            assert body["key_schema_id"] is None
            assert len(body["offsets"]) == 500
            for i, off in zip(ids, body["offsets"]):
                assert off["error_code"] is None and off["error"] is None, off
                acked[i] = (off["partition"], off["offset"])
                expected[i] = order(i)[1]
    got = read_topic(mesh_broker.bootstrap, unique_topic, registry.url,
                     10000, timeout(120))
    assert len(got) == 10000
    seen = {}
    for key, value, headers, partition, offset in got:
        i = value["id"]
        assert value == expected[i]
        assert key in (f"k{i % 50}", f"k{i % 50}".encode())
        assert (partition, offset) == acked[i]
        h = header_map(headers)
        assert h["mesh.source"] == "http"
        req_id, _, index = h["mesh.position"].partition(":")
        assert int(index) == i % 500 and req_id
        assert (h.get("traceparent") == trace) == (i // 500 == 7)
        seen[i] = True
    assert len(seen) == 10000
    # Same key -> same partition, in posting order.
    per_key = {}
    for i in sorted(acked):
        per_key.setdefault(i % 50, []).append(acked[i])
    for positions in per_key.values():
        assert len({p for p, _ in positions}) == 1
        offsets = [o for _, o in positions]
        assert offsets == sorted(offsets)


def test_http_bad_requests_precise_4xx(mesh_broker, registry, make_producer,
                                       unique_topic, timeout):
    mesh_broker.create_topic(unique_topic, 2)
    reg_st, reg_js = registry.register(f"{unique_topic}-value", ORDER_SCHEMA)
    assert reg_st == 200, reg_js
    prod = start(make_producer, mesh_broker.bootstrap, registry,
                 **{"http.max.body.bytes": 65536})
    with requests.Session() as s:
        # 1. One bad record among good ones: whole request refused.
        bad = order(2)[0]
        bad["amount"] = "lots"
        resp = post(s, prod, unique_topic,
                    {"records": [{"value": order(1)[0]}, {"value": bad}]})
        assert_error(resp, 422, 42203, "records[1].value", "amount")
        # 2. Malformed JSON.
        resp = post(s, prod, unique_topic, None, raw='{"records": [')
        assert_error(resp, 400, 400)
        # 3. Wrong content types.
        resp = post(s, prod, unique_topic, {"records": [{"value": 1}]},
                    content_type="text/plain")
        assert_error(resp, 415, 415)
        resp = post(s, prod, unique_topic, {"records": [{"value": "AA=="}]},
                    content_type="application/vnd.kafka.binary.v2+json")
        assert_error(resp, 415, 415)
        # 4. Unknown topic, unknown partition.
        resp = post(s, prod, f"{unique_topic}-nope",
                    {"records": [{"value": order(3)[0]}]})
        assert_error(resp, 404, 40401, "Topic not found")
        resp = post(s, prod, unique_topic,
                    {"records": [{"value": order(3)[0], "partition": 7}]})
        assert_error(resp, 404, 40402)
        # 5. Shape: no records, empty records, record not an object.
        assert_error(post(s, prod, unique_topic, {"value": 1}), 422, 422)
        assert_error(post(s, prod, unique_topic, {"records": []}), 422, 422)
        assert_error(post(s, prod, unique_topic, {"records": [3]}), 422, 422)
        # 6. Inline schema that does not parse.
        resp = post(s, prod, unique_topic,
                    {"value_schema": '{"type": "recurd"}',
                     "records": [{"value": order(3)[0]}]})
        assert_error(resp, 422, 42205)
        # 7. Body over http.max.body.bytes.
        big = [{"value": order(i)[0]} for i in range(1200)]
        raw = json.dumps({"records": big})
        assert 65536 < len(raw) < 2 * 65536
        assert_error(post(s, prod, unique_topic, None, raw=raw), 413, 413)
        # 8. Unknown route, wrong method.
        assert s.get(f"{prod.http}/nothing").status_code == 404
        assert s.delete(f"{prod.http}/topics/{unique_topic}").status_code \
            == 405
        # Discovery.
        names = s.get(f"{prod.http}/topics").json()
        assert unique_topic in names
        desc = s.get(f"{prod.http}/topics/{unique_topic}").json()
        assert desc["name"] == unique_topic
        assert [p["partition"] for p in desc["partitions"]] == [0, 1]
        assert_error(s.get(f"{prod.http}/topics/{unique_topic}-nope"),
                     404, 40401)
        # Still serving, with the plain JSON content types too.
        good = [{"value": order(i)[0]} for i in range(10, 15)]
        for ct in (JSON_V2, "application/json; charset=utf-8"):
            resp = post(s, prod, unique_topic, {"records": good},
                        content_type=ct)
            assert resp.status_code == 200, resp.text
    got = read_topic(mesh_broker.bootstrap, unique_topic, registry.url, 10,
                     timeout(60))
    assert sorted(v["id"] for _, v, _, _, _ in got) == \
        sorted(list(range(10, 15)) * 2)
    # Nothing of the refused requests reached Kafka.
    assert topic_record_count(mesh_broker.bootstrap, unique_topic, 2,
                              timeout(10)) == 10


def test_http_broker_down_up_no_loss(mesh_broker, registry, make_producer,
                                     unique_topic, timeout):
    mesh_broker.create_topic(unique_topic, 3)
    reg_st, reg_js = registry.register(f"{unique_topic}-value", ORDER_SCHEMA)
    assert reg_st == 200, reg_js
    prod = start(make_producer, mesh_broker.bootstrap, registry)
    acked, statuses = set(), []
    stop = threading.Event()

    def poster(i):
        with requests.Session() as s:
            while not stop.is_set():
                ids = range(i, i + 100)
                i += 100
                try:
                    resp = post(s, prod, unique_topic,
                                {"records": [{"key": f"k{n % 20}",
                                              "value": order(n)[0]}
                                             for n in ids]},
                                timeout=timeout(120))
                except requests.RequestException as e:
                    statuses.append(repr(e))
                    continue
                statuses.append(resp.status_code)
                if resp.status_code == 503:
                    if resp.headers.get("Retry-After") != "1":
                        statuses.append("503 without Retry-After: 1")
                    time.sleep(0.2)
                elif resp.status_code == 200:
                    for n, off in zip(ids, resp.json()["offsets"]):
                        if off["error_code"] is None:
                            acked.add(n)

    # Two posters: while one waits for Kafka, the other meets the degraded
    # emitter (503 + Retry-After).
    threads = [threading.Thread(target=poster, args=(n * 10 ** 6,))
               for n in range(2)]
    for t in threads:
        t.start()
    try:
        # The outage starts once the posters are flowing (a first 200).
        deadline = time.monotonic() + timeout(30)
        while statuses.count(200) == 0:
            assert time.monotonic() < deadline, \
                f"no 200 before the outage: {statuses}"
            time.sleep(0.05)
        # The sleeps below are the outage's phases, time the posters must
        # live through (one broker down, then all, then back), not waits
        # for a condition.
        mesh_broker.broker_down(1)
        time.sleep(2.0)
        for b in (2, 3):
            mesh_broker.broker_down(b)
        time.sleep(2.0)
        for b in (1, 2, 3):
            mesh_broker.broker_up(b)
        time.sleep(3.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout(180))
    assert not any(t.is_alive() for t in threads)
    print("statuses:", collections.Counter(statuses), "acked:", len(acked))
    assert statuses.count(200) >= 5, statuses
    assert set(s for s in statuses if isinstance(s, int)) <= {200, 503}, \
        statuses
    total = topic_record_count(mesh_broker.bootstrap, unique_topic, 3,
                               timeout(30))
    assert total >= len(acked)
    got = read_topic(mesh_broker.bootstrap, unique_topic, registry.url, total,
                     timeout(120))
    present = {v["id"] for _, v, _, _, _ in got}
    missing = acked - present
    assert not missing, f"{len(missing)} acknowledged records lost"
    # Answered 200 means the daemon still serves after the outage.
    with requests.Session() as s:
        resp = post(s, prod, unique_topic,
                    {"records": [{"value": order(10 ** 7)[0]}]})
        assert resp.status_code == 200, resp.text


def test_http_all_brokers_down_503(mesh_broker, registry, make_producer,
                                   unique_topic, timeout):
    """librdkafka's all-brokers-down report makes the http source answer
    503 + Retry-After at once, before anything is in flight (the inferred
    state needs messages outstanding for 5 s); once the brokers are back,
    posts succeed again."""
    mesh_broker.create_topic(unique_topic, 3)
    reg_st, reg_js = registry.register(f"{unique_topic}-value", ORDER_SCHEMA)
    assert reg_st == 200, reg_js
    prod = start(make_producer, mesh_broker.bootstrap, registry)
    with requests.Session() as s:
        # Connected to every partition leader, so all of them go down.
        resp = post(s, prod, unique_topic,
                    {"records": [{"value": order(n)[0]} for n in range(30)]})
        assert resp.status_code == 200, resp.text
        for b in (1, 2, 3):
            mesh_broker.broker_down(b)
        t_down = time.monotonic()
        got = None
        while got is None and time.monotonic() < t_down + timeout(15):
            try:
                resp = post(s, prod, unique_topic,
                            {"records": [{"value": order(100)[0]}]},
                            timeout=timeout(2))
            except requests.RequestException:
                continue  # taken before the report came: waits for Kafka
            if resp.status_code == 503:
                got = resp
            time.sleep(0.2)
        assert got is not None, "no 503 while every broker was down"
        waited = time.monotonic() - t_down
        assert got.headers.get("Retry-After") == "1", got.headers
        assert got.json()["error_code"] == 50003, got.text
        assert "unreachable" in got.json()["message"], got.text
        print(f"503 after {waited:.1f}s")
        assert requests.get(f"{prod.ops}/healthz",
                            timeout=10).status_code == 503
        for b in (1, 2, 3):
            mesh_broker.broker_up(b)
        t_up = time.monotonic()
        ok = None
        while ok is None and time.monotonic() < t_up + timeout(30):
            try:
                resp = post(s, prod, unique_topic,
                            {"records": [{"value": order(200)[0]}]},
                            timeout=timeout(20))
            except requests.RequestException:
                continue
            if resp.status_code == 200:
                ok = resp
            else:
                assert resp.status_code == 503, resp.text
                time.sleep(0.3)
        assert ok is not None, "posts still refused after the brokers came up"
        assert ok.json()["offsets"][0]["error_code"] is None, ok.text
        print(f"200 again {time.monotonic() - t_up:.1f}s after up")


def test_http_real_kafka(real_kafka, registry, make_producer, unique_topic,
                         timeout):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": real_kafka.bootstrap})
    admin.create_topics([NewTopic(unique_topic, 2, 1)])[unique_topic] \
        .result(timeout(30))
    reg_st, reg_js = registry.register(f"{unique_topic}-value", ORDER_SCHEMA)
    assert reg_st == 200, reg_js
    prod = start(make_producer, real_kafka.bootstrap, registry)
    expected = {}
    with requests.Session() as s:
        for batch in range(4):
            ids = range(batch * 250, (batch + 1) * 250)
            resp = post(s, prod, unique_topic,
                        {"records": [{"key": f"k{i}", "value": order(i)[0]}
                                     for i in ids]},
                        timeout=timeout(60))
            assert resp.status_code == 200, resp.text
            assert all(o["error_code"] is None for o in resp.json()["offsets"])
            expected.update({i: order(i)[1] for i in ids})
        assert_error(post(s, prod, f"{unique_topic}-nope",
                          {"records": [{"value": order(1)[0]}]}),
                     404, 40401)
    got = read_topic(real_kafka.bootstrap, unique_topic, registry.url, 1000,
                     timeout(120))
    assert {v["id"]: v for _, v, _, _, _ in got} == expected

