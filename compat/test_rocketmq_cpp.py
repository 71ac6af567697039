"""RocketMQ's own C++ client (PyPI `rocketmq` 0.4.4) against a ShardMQ broker.

Run by compat/run.sh, which starts `mqbroker` standalone on loopback ports with a fresh data
dir and passes the name server address in SHARDMQ_NAMESRV. Each case uses its own topic and
consumer groups.
"""
import os
import threading
import time
import unittest
import uuid

from rocketmq.client import Message, MessageModel, Producer, PushConsumer, SendStatus
from rocketmq.client import RecvMessage, _to_bytes, dll, ffi_check
from rocketmq.ffi import _CConsumeStatus

NAMESRV = os.environ["SHARDMQ_NAMESRV"]
WAIT_S = 60
# compat/run.sh starts the broker with messageDelayLevel = 100ms 200ms ... (level n is
# n x 100 ms up to level 10 = 1 s), so retries and delays take tenths of a second.
LEVEL_10_S = 1.0


def text(value):
    """A field as str (the binding gives some as bytes, some as str)."""
    return value.decode() if isinstance(value, bytes) else value


def unique(name):
    return "%s_%s" % (name, uuid.uuid4().hex[:8])


def producer():
    p = Producer(unique("PG"))
    p.set_namesrv_addr(NAMESRV)
    p.start()
    return p


def message(topic, i, key=None):
    m = Message(topic)
    m.set_keys(key or ("key-%d" % i))
    m.set_tags("Tag%d" % (i % 3))
    m.set_property("seq", str(i))
    m.set_property("kind", "compat")
    m.set_body("body-%d" % i)
    return m


class Collector(object):
    """Thread-safe message sink that signals once `want` distinct messages arrived."""

    def __init__(self, want):
        self.want = want
        self.lock = threading.Lock()
        self.messages = []
        self.done = threading.Event()

    def __call__(self, msg):
        record = {
            "body": msg.body.decode(),
            "tags": msg.tags.decode(),
            "keys": msg.keys.decode(),
            "seq": msg.get_property("seq").decode(),
            "kind": msg.get_property("kind").decode(),
            "id": msg.id,
            "queue_id": msg.queue_id,
            "offset": msg.queue_offset,
        }
        with self.lock:
            self.messages.append(record)
            if len({m["id"] for m in self.messages}) >= self.want:
                self.done.set()


def client_log_contains(text):
    """Whether the C++ client's log (under $HOME/logs) holds `text`."""
    log_dir = os.path.join(os.environ["HOME"], "logs", "rocketmq-cpp")
    for name in os.listdir(log_dir) if os.path.isdir(log_dir) else []:
        with open(os.path.join(log_dir, name), errors="replace") as f:
            if text in f.read():
                return True
    return False


def wait_for_queues(topic, count):
    """Waits until the C++ client's log shows `count` queue assignments for `topic`."""
    log_dir = os.path.join(os.environ["HOME"], "logs", "rocketmq-cpp")
    needle = "add mq:MessageQueue [topic=%s," % topic
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        seen = 0
        for name in os.listdir(log_dir) if os.path.isdir(log_dir) else []:
            with open(os.path.join(log_dir, name), errors="replace") as f:
                seen += f.read().count(needle)
        if seen >= count:
            return True
        time.sleep(0.2)
    return False


def consumer(group, topic, sink, orderly=False, model=MessageModel.CLUSTERING, instance=None):
    c = PushConsumer(group, orderly=orderly, message_model=model)
    c.set_namesrv_addr(NAMESRV)
    if instance:
        # Two consumers of one group in one process need their own client instances.
        c.set_instance_name(instance)
    c.subscribe(topic, sink)
    c.start()
    return c


class CppClientCompatibility(unittest.TestCase):
    def test_1000_sync_sends_are_consumed_with_every_body_tag_key_property_and_msg_id(self):
        topic = unique("Compat")
        p = producer()
        sent = {}
        for i in range(1000):
            result = p.send_sync(message(topic, i))
            self.assertEqual(result.status, SendStatus.OK)
            sent[result.msg_id] = i
        p.shutdown()
        self.assertEqual(len(sent), 1000, "every send got its own msgId")
        sink = Collector(1000)
        c = consumer(unique("CG"), topic, sink)
        self.assertTrue(sink.done.wait(WAIT_S), "consumed %d of 1000" % len(sink.messages))
        c.shutdown()
        seen = {}
        for m in sink.messages:
            i = sent.get(m["id"])
            self.assertIsNotNone(i, "unknown msgId %s" % m["id"])
            self.assertEqual(m["body"], "body-%d" % i)
            self.assertEqual(m["tags"], "Tag%d" % (i % 3))
            self.assertEqual(m["keys"], "key-%d" % i)
            self.assertEqual(m["seq"], str(i))
            self.assertEqual(m["kind"], "compat")
            seen[m["id"]] = i
        self.assertEqual(set(seen), set(sent), "every message, and nothing else")

    def test_orderly_messages_sharing_a_key_arrive_in_the_order_sent(self):
        topic = unique("Ordered")
        keys = ["order-%d" % k for k in range(4)]
        p = producer()
        per_key = 50
        for i in range(per_key):
            for k, key in enumerate(keys):
                m = message(topic, i, key=key)
                result = p.send_orderly(m, k)
                self.assertEqual(result.status, SendStatus.OK)
        p.shutdown()
        sink = Collector(per_key * len(keys))
        c = consumer(unique("OCG"), topic, sink, orderly=True)
        self.assertTrue(sink.done.wait(WAIT_S), "consumed %d" % len(sink.messages))
        c.shutdown()
        for key in keys:
            seqs = [int(m["seq"]) for m in sink.messages if m["keys"] == key]
            first_seen = []
            for s in seqs:
                if s not in first_seen:
                    first_seen.append(s)
            self.assertEqual(first_seen, list(range(per_key)), "order of %s" % key)

    def test_broadcasting_gives_every_message_to_each_of_two_consumers(self):
        topic = unique("Broadcast")
        group = unique("BCG")
        # Create the topic first: broadcast consumers start from the queue ends.
        p = producer()
        p.send_sync(message(topic, -1))
        sinks = [Collector(100), Collector(100)]
        consumers = [
            consumer(group, topic, s, model=MessageModel.BROADCASTING, instance="b%d" % n)
            for n, s in enumerate(sinks)
        ]
        # Broadcast consumers start at each queue's end when they take it (the C++ client
        # rebalances every ~10 s): wait until both hold all 8 queues before sending.
        self.assertTrue(wait_for_queues(topic, 2 * 8), "the consumers never took the queues")
        for i in range(100):
            self.assertEqual(p.send_sync(message(topic, i)).status, SendStatus.OK)
        p.shutdown()
        for n, sink in enumerate(sinks):
            self.assertTrue(sink.done.wait(WAIT_S), "consumer %d got %d of 100" % (n, len(sink.messages)))
            bodies = {m["body"] for m in sink.messages}
            self.assertTrue({"body-%d" % i for i in range(100)} <= bodies, "consumer %d" % n)
        for c in consumers:
            c.shutdown()

    def test_a_group_that_starts_after_the_messages_were_sent_still_gets_them_all(self):
        topic = unique("Late")
        p = producer()
        for i in range(200):
            self.assertEqual(p.send_sync(message(topic, i)).status, SendStatus.OK)
        p.shutdown()
        time.sleep(1)
        sink = Collector(200)
        c = consumer(unique("LateCG"), topic, sink)
        self.assertTrue(sink.done.wait(WAIT_S), "consumed %d of 200" % len(sink.messages))
        c.shutdown()
        self.assertEqual({m["body"] for m in sink.messages}, {"body-%d" % i for i in range(200)})

    def test_a_topic_name_the_broker_refuses_fails_the_send_with_the_brokers_remark(self):
        # 128 characters: the C++ client allows 255, RocketMQ's broker (and ShardMQ's) 127.
        # The client sends it through TBW102's route; the broker refuses it at the door and
        # creates nothing, and a later send of a good name still works.
        topic = "Long" + "x" * 124
        p = producer()
        started = time.time()
        with self.assertRaises(Exception):
            p.send_sync(message(topic, 0))
        self.assertLess(time.time() - started, WAIT_S, "an answer, not a hang")
        # The client raises its own "no route" after its retries; the broker's remark, which
        # names the rule, is in the client's log.
        self.assertTrue(client_log_contains("longer than the limit of 127"))
        self.assertEqual(p.send_sync(message(unique("After"), 0)).status, SendStatus.OK)
        p.shutdown()

    def test_a_listener_that_fails_twice_sees_each_message_three_times_then_consumes_it(self):
        # RECONSUME_LATER makes the C++ client send the message back (CONSUMER_SEND_MSG_BACK);
        # the broker redelivers it through the group's retry topic, which the client
        # subscribed to itself, with the original topic restored and reconsume times counted.
        # One message: librocketmq's C API hands its callback a pull batch one message at a
        # time and answers the whole batch with the first failure's status, so messages
        # pulled together with a failing one are sent back without being seen (the broker
        # stores each send-back it gets; broker/tests/lifecycle.rs checks many at once).
        topic = unique("Retry")
        p = producer()
        self.assertEqual(p.send_sync(message(topic, 0)).status, SendStatus.OK)
        p.shutdown()
        lock = threading.Lock()
        seen = {}
        done = threading.Event()

        def on_message(_consumer, raw):
            m = RecvMessage(raw)
            key = text(m.keys)
            with lock:
                seen.setdefault(key, []).append((m.reconsume_times, text(m.topic)))
                tries = len(seen[key])
                if all(len(v) >= 3 for v in seen.values()):
                    done.set()
            if tries <= 2:
                return _CConsumeStatus.RECONSUME_LATER.value
            return _CConsumeStatus.CONSUME_SUCCESS.value

        c = PushConsumer(unique("RetryCG"))
        c.set_namesrv_addr(NAMESRV)
        ffi_check(dll.Subscribe(c._handle, _to_bytes(topic), b"*"))
        c._register_callback(on_message)
        c.start()
        self.assertTrue(done.wait(WAIT_S), "deliveries per message: %r" % {k: len(v) for k, v in seen.items()})
        # Nothing comes a fourth time: the third delivery was consumed.
        time.sleep(2.5)
        c.shutdown()
        self.assertEqual(list(seen), ["key-0"])
        for key, deliveries in seen.items():
            self.assertEqual(len(deliveries), 3, "%s: %r" % (key, deliveries))
            self.assertEqual([r for r, _ in deliveries], [0, 1, 2], key)
            self.assertEqual({t for _, t in deliveries}, {topic}, "the original topic, restored")

    def send_scheduled_and_wait(self, name, schedule):
        """Sends one message, scheduled by `schedule(message)`, to a fresh topic whose
        consumer already holds every queue; returns (seconds until it arrived, its
        TIMER_OUT_MS property)."""
        topic = unique(name)
        p = producer()
        p.send_sync(message(topic, -1))  # the topic exists before the consumer starts
        arrivals = {}
        got = threading.Event()

        def on_message(msg):
            if text(msg.get_property("seq")) == "7":
                arrivals["at"] = time.time()
                arrivals["due"] = text(msg.get_property("TIMER_OUT_MS"))
                got.set()

        c = consumer(unique(name + "CG"), topic, on_message)
        self.assertTrue(wait_for_queues(topic, 8), "the consumer never took the queues")
        m = message(topic, 7)
        schedule(m)
        sent_at = time.time()
        self.assertEqual(p.send_sync(m).status, SendStatus.OK)
        p.shutdown()
        self.assertTrue(got.wait(WAIT_S), "the scheduled message never arrived")
        c.shutdown()
        return arrivals["at"] - sent_at, arrivals["due"]

    def test_a_message_with_a_delay_level_arrives_no_earlier_than_its_level(self):
        waited, _ = self.send_scheduled_and_wait("Delay", lambda m: m.set_delay_time_level(10))
        self.assertGreaterEqual(waited, LEVEL_10_S - 0.05, "early: %.3f s" % waited)

    def test_a_timer_set_as_a_property_arrives_no_earlier_than_its_delay(self):
        # librocketmq 1.0 predates RocketMQ 5's timers, but sends any property: the broker
        # reads TIMER_DELAY_MS from a client nobody here wrote.
        waited, due = self.send_scheduled_and_wait(
            "Timer", lambda m: m.set_property("TIMER_DELAY_MS", "1500"))
        self.assertGreaterEqual(waited, 1.5 - 0.05, "early: %.3f s" % waited)
        self.assertTrue(due, "delivered with its due time (TIMER_OUT_MS)")

if __name__ == "__main__":
    unittest.main(verbosity=2)
