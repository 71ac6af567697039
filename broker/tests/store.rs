//! The storage engine through its real interface: real files in temp dirs, a real glommio
//! executor, real crashes (a child process killed with SIGKILL) and a real full disk (a tiny
//! tmpfs, when the test may mount one).

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use glommio::{LocalExecutorBuilder, Placement};
use shardmq_broker::store::consume_queue::tag_hash;
use shardmq_broker::store::{
    AppendRequest, FlushMode, Position, ReadStatus, Store, StoreConfig, StoreError,
};
use shardmq_protocol::message::{MessageId, StoredMessage};

/// Runs `f` on a fresh glommio executor on this thread.
fn run<F: Future>(f: F) -> F::Output {
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(512 << 10)
        .make()
        .expect("glommio executor")
        .run(f)
}

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir, 0);
    c.segment_bytes = 64 << 10;
    c.cq_entries_per_file = 64;
    c.index.slots = 64;
    c.index.max_entries = 256;
    c.flush_interval = Duration::from_millis(20);
    c
}

fn request(topic: &str, queue_id: i32, body: &str, tags: &str, keys: &str) -> AppendRequest {
    AppendRequest {
        topic: topic.into(),
        queue_id,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: "127.0.0.1:50000".parse().unwrap(),
        body: Bytes::copy_from_slice(body.as_bytes()),
        properties: format!("TAGS\u{1}{tags}\u{2}KEYS\u{1}{keys}\u{2}").into(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn body_of(stored: &Bytes) -> String {
    let (m, _) = StoredMessage::decode(stored, 0, true).expect("a valid stored message");
    String::from_utf8(m.body.to_vec()).unwrap()
}

fn read_all(store: &Store, topic: &str, queue_id: i32) -> Vec<String> {
    let mut out = Vec::new();
    let mut offset = store.offsets(topic, queue_id).0;
    loop {
        let r = store
            .read(topic, queue_id, offset, 32, 1 << 20, |_| true)
            .unwrap();
        if r.messages.is_empty() {
            return out;
        }
        out.extend(r.messages.iter().map(body_of));
        offset = r.next_offset;
    }
}

#[test]
fn appended_messages_read_back_in_order_with_their_stored_fields() {
    for flush in [FlushMode::Async, FlushMode::Sync] {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let mut cfg = config(dir.path());
            cfg.flush = flush;
            let (store, _) = Store::open(cfg).await.unwrap();
            let mut results = Vec::new();
            for i in 0..50 {
                results.push(
                    store
                        .put(&request("T", i % 2, &format!("m{i}"), "TagA", ""))
                        .await
                        .unwrap(),
                );
            }
            assert_eq!(results[10].queue_offset, 5);
            assert_eq!(store.offsets("T", 0), (0, 25));
            let r = store.read("T", 0, 0, 100, 1 << 20, |_| true).unwrap();
            assert_eq!(r.status, ReadStatus::Found);
            assert_eq!(r.messages.len(), 25);
            for (n, stored) in r.messages.iter().enumerate() {
                let (m, _) = StoredMessage::decode(stored, 0, true).unwrap();
                assert_eq!(
                    String::from_utf8(m.body.to_vec()).unwrap(),
                    format!("m{}", n * 2)
                );
                assert_eq!((&*m.topic, m.queue_id, m.queue_offset), ("T", 0, n as i64));
                assert_eq!(m.physical_offset as u64, results[n * 2].position.raw());
                assert_eq!(m.store_host, "127.0.0.1:10911".parse().unwrap());
            }
            let id = MessageId {
                store_host: "127.0.0.1:10911".parse().unwrap(),
                commit_log_offset: results[3].position.raw() as i64,
            };
            let by_id = store
                .message_at(Position::from_raw(
                    MessageId::parse(&id.to_string()).unwrap().commit_log_offset as u64,
                ))
                .unwrap();
            assert_eq!(body_of(&by_id), "m3");
            store.close().await.unwrap();
        });
    }
}

#[test]
fn reads_respect_limits_filters_and_report_offset_status() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (store, _) = Store::open(config(dir.path())).await.unwrap();
        for i in 0..20 {
            let tag = if i % 4 == 0 { "TagA" } else { "TagB" };
            store
                .put(&request("T", 0, &format!("{i:03}"), tag, ""))
                .await
                .unwrap();
        }
        let a = tag_hash("TagA");
        let r = store.read("T", 0, 0, 100, 1 << 20, |h| h == a).unwrap();
        let bodies: Vec<_> = r.messages.iter().map(body_of).collect();
        assert_eq!(bodies, ["000", "004", "008", "012", "016"]);
        assert_eq!(r.next_offset, 20);
        let r = store.read("T", 0, 17, 100, 1 << 20, |h| h == a).unwrap();
        assert_eq!(
            (r.status, r.next_offset),
            (ReadStatus::NoMatchedMessage, 20)
        );
        let r = store.read("T", 0, 0, 3, 1 << 20, |_| true).unwrap();
        assert_eq!((r.messages.len(), r.next_offset), (3, 3));
        let one = r.messages[0].len();
        let r = store.read("T", 0, 0, 100, one * 2, |_| true).unwrap();
        assert_eq!(r.messages.len(), 2, "max bytes stops the read");
        assert_eq!(
            store
                .read("T", 0, 20, 10, 1 << 20, |_| true)
                .unwrap()
                .status,
            ReadStatus::NoNewMessage
        );
        assert_eq!(
            store
                .read("T", 0, 25, 10, 1 << 20, |_| true)
                .unwrap()
                .status,
            ReadStatus::OffsetOverflow
        );
        assert_eq!(
            store.read("T", 1, 0, 10, 1 << 20, |_| true).unwrap().status,
            ReadStatus::NoQueue
        );
        assert_eq!(
            store.read("U", 0, 0, 10, 1 << 20, |_| true).unwrap().status,
            ReadStatus::NoQueue
        );
        store.close().await.unwrap();
    });
}

#[test]
fn messages_never_straddle_segments_and_segment_names_are_their_start_offsets() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (store, _) = Store::open(config(dir.path())).await.unwrap();
        let body = "x".repeat(3000);
        for i in 0..100 {
            let r = store
                .put(&request("T", 0, &format!("{i:03}{body}"), "", ""))
                .await
                .unwrap();
            let start = r.position.offset();
            assert_eq!(
                start / (64 << 10),
                (start + u64::from(r.size) - 1) / (64 << 10),
                "message {i} straddles"
            );
        }
        let segments = store.commit_log().segments();
        assert!(segments.len() >= 4, "{segments:?}");
        for (start, path) in &segments {
            assert_eq!(
                path.file_name().unwrap().to_str().unwrap(),
                format!("{start:020}")
            );
            assert_eq!(
                std::fs::metadata(path).unwrap().len(),
                64 << 10,
                "preallocated"
            );
        }
        let bodies = read_all(&store, "T", 0);
        assert_eq!(bodies.len(), 100);
        assert!(bodies
            .iter()
            .enumerate()
            .all(|(i, b)| b.starts_with(&format!("{i:03}"))));
        store.close().await.unwrap();
    });
}

#[test]
fn restart_keeps_every_acknowledged_message_with_or_without_a_clean_close() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let (store, _) = Store::open(config(dir.path())).await.unwrap();
            for i in 0..300 {
                store
                    .put(&request("T", i % 3, &format!("m{i}"), "", ""))
                    .await
                    .unwrap();
            }
            if clean {
                store.close().await.unwrap();
            }
        });
        run(async {
            let (store, recovered) = Store::open(config(dir.path())).await.unwrap();
            assert_eq!(recovered.cut, None);
            for q in 0..3 {
                let bodies = read_all(&store, "T", q);
                let want: Vec<_> = (0..300)
                    .filter(|i| i % 3 == q)
                    .map(|i| format!("m{i}"))
                    .collect();
                assert_eq!(bodies, want, "queue {q}, clean close {clean}");
            }
            let next = store.put(&request("T", 0, "after", "", "")).await.unwrap();
            assert_eq!(next.queue_offset, 100);
            store.close().await.unwrap();
        });
    }
}

/// Offset of the last message in the last segment, and the segment's path.
fn last_message(dir: &Path) -> (std::path::PathBuf, u64, usize) {
    let log_dir = dir.join("shard-0").join("commitlog");
    let mut segs: Vec<_> = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let path = segs.pop().unwrap();
    let data = Bytes::from(std::fs::read(&path).unwrap());
    let mut at = 0;
    let mut last = (0, 0);
    while let Ok((_, len)) = StoredMessage::decode(&data, at, true) {
        last = (at, len);
        at += len;
    }
    (path, last.0 as u64, last.1)
}

#[test]
fn torn_tail_is_cut_every_whole_message_survives_and_nothing_past_the_cut() {
    for damage in ["truncate", "garble"] {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let (store, _) = Store::open(config(dir.path())).await.unwrap();
            for i in 0..20 {
                store
                    .put(&request("T", 0, &format!("m{i}"), "", ""))
                    .await
                    .unwrap();
            }
            store.close().await.unwrap();
        });
        let (path, at, len) = last_message(dir.path());
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        use std::os::unix::fs::FileExt;
        match damage {
            // The last message's second half never reached the disk.
            "truncate" => file
                .write_all_at(&vec![0u8; len / 2], at + (len / 2) as u64)
                .unwrap(),
            // Its body bytes are garbage.
            _ => file.write_all_at(b"GARBAGE", at + len as u64 - 20).unwrap(),
        }
        // Make recovery scan the damaged tail: drop the checkpoint.
        std::fs::remove_file(dir.path().join("shard-0").join("checkpoint")).unwrap();
        run(async {
            let (store, recovered) = Store::open(config(dir.path())).await.unwrap();
            let (cut_at, why) = recovered.cut.clone().expect("the tail was cut");
            assert_eq!(cut_at, at, "{damage}: {why}");
            assert!(
                why.contains("00000000000000000000"),
                "the reason names the file: {why}"
            );
            let bodies = read_all(&store, "T", 0);
            let want: Vec<_> = (0..19).map(|i| format!("m{i}")).collect();
            assert_eq!(bodies, want, "{damage}");
            let r = store.put(&request("T", 0, "new", "", "")).await.unwrap();
            assert_eq!((r.queue_offset, r.position.offset()), (19, at));
            store.close().await.unwrap();
        });
        run(async {
            let (store, recovered) = Store::open(config(dir.path())).await.unwrap();
            assert_eq!(recovered.cut, None, "{damage}: a clean log after the cut");
            assert_eq!(read_all(&store, "T", 0).last().unwrap(), "new");
            store.close().await.unwrap();
        });
    }
}

#[test]
fn garbage_before_more_data_is_refused_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (store, _) = Store::open(config(dir.path())).await.unwrap();
        let body = "y".repeat(3000);
        for _ in 0..60 {
            store.put(&request("T", 0, &body, "", "")).await.unwrap();
        }
        store.close().await.unwrap();
    });
    let first = dir.path().join("shard-0/commitlog/00000000000000000000");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"\x00\x00\x10\x00JUNKJUNK", 100).unwrap();
    std::fs::remove_file(dir.path().join("shard-0/checkpoint")).unwrap();
    run(async {
        let err = Store::open(config(dir.path()))
            .await
            .err()
            .expect("refused");
        let text = err.to_string();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{text}");
        assert!(
            text.contains("00000000000000000000") && text.contains("at byte 0"),
            "{text}"
        );
    });
}

#[test]
fn short_or_misnamed_segments_are_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (store, _) = Store::open(config(dir.path())).await.unwrap();
        let body = "z".repeat(3000);
        for _ in 0..40 {
            store.put(&request("T", 0, &body, "", "")).await.unwrap();
        }
        store.close().await.unwrap();
    });
    let first = dir.path().join("shard-0/commitlog/00000000000000000000");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(1000)
        .unwrap();
    run(async {
        let err = Store::open(config(dir.path()))
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("00000000000000000000")
                && err.contains("segment is 1000 bytes, expected 65536"),
            "{err}"
        );
    });
}

#[test]
fn a_data_dir_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    run(async {
        let err = Store::open(config(&file.join("data")))
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("creating") && err.contains("a-file/data/shard-0"),
            "{err}"
        );
    });
}

#[test]
fn a_failed_write_refuses_new_appends_and_keeps_acknowledged_ones() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (store, _) = Store::open(config(dir.path())).await.unwrap();
        store.put(&request("T", 0, "kept", "", "")).await.unwrap();
        // The next segment's name is taken by a directory: creating it fails.
        std::fs::create_dir(
            dir.path()
                .join("shard-0/commitlog")
                .join(format!("{:020}", 64u64 << 10)),
        )
        .unwrap();
        let body = "w".repeat(3000);
        let mut failure = None;
        for _ in 0..40 {
            if let Err(e) = store.put(&request("T", 0, &body, "", "")).await {
                failure = Some(e);
                break;
            }
        }
        let failure = failure.expect("a write failed").to_string();
        assert!(failure.contains("00000000000000065536"), "{failure}");
        let again = store
            .append(&request("T", 0, "refused", "", ""))
            .expect_err("refused")
            .to_string();
        assert!(again.contains("refuses writes"), "{again}");
        assert_eq!(read_all(&store, "T", 0)[0], "kept");
    });
}

#[test]
fn a_full_disk_is_reported_as_such_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("tiny");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mount)
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("skipping: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount);
    let acked = run(async {
        let mut cfg = config(&mount);
        cfg.index.slots = 8;
        cfg.index.max_entries = 16;
        let (store, _) = Store::open(cfg).await.unwrap();
        let body = "f".repeat(2000);
        let mut acked = 0;
        let err = loop {
            match store.put(&request("T", 0, &body, "", "")).await {
                Ok(_) => acked += 1,
                Err(e) => break e,
            }
            assert!(acked < 1000, "the disk never filled");
        };
        assert!(
            matches!(err, StoreError::Refusing(ref r) if r.contains("disk full")),
            "{err}"
        );
        assert!(acked > 0);
        assert_eq!(read_all(&store, "T", 0).len(), acked);
        acked
    });
    assert!(acked > 0);
}

#[test]
fn retention_deletes_whole_old_segments_and_moves_min_offsets_up() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut cfg = config(dir.path());
        cfg.retention_hours = 1;
        let (store, _) = Store::open(cfg).await.unwrap();
        let body = "r".repeat(3000);
        for i in 0..100 {
            store
                .put(&request("T", 0, &format!("{i:03}{body}"), "", ""))
                .await
                .unwrap();
        }
        let before = store.commit_log().segments().len();
        assert_eq!(
            store
                .enforce_retention(SystemTime::now(), true)
                .await
                .unwrap(),
            0,
            "nothing is an hour old yet"
        );
        let later = SystemTime::now() + Duration::from_secs(2 * 3600);
        // Outside the deletion hours (deleteWhen) expired segments stay.
        assert_eq!(store.enforce_retention(later, false).await.unwrap(), 0);
        assert_eq!(store.commit_log().segments().len(), before);
        let min = store.enforce_retention(later, true).await.unwrap();
        let files = std::fs::read_dir(dir.path().join("shard-0").join("commitlog"))
            .unwrap()
            .count();
        assert_eq!(files, 1, "the deleted segments' files are gone");
        let after = store.commit_log().segments();
        assert_eq!(
            after.len(),
            1,
            "all but the segment being written went (had {before})"
        );
        assert_eq!(after[0].0, min);
        let (qmin, qmax) = store.offsets("T", 0);
        assert!(qmin > 0 && qmax == 100, "({qmin}, {qmax})");
        assert_eq!(
            store.read("T", 0, 0, 10, 1 << 20, |_| true).unwrap().status,
            ReadStatus::OffsetTooSmall
        );
        let first = store.read("T", 0, qmin, 1, 1 << 20, |_| true).unwrap();
        assert!(body_of(&first.messages[0]).starts_with(&format!("{qmin:03}")));
        store.close().await.unwrap();
    });
}

#[test]
fn lookups_by_time_by_key_and_earliest_store_time() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (store, _) = Store::open(config(dir.path())).await.unwrap();
        let first = store
            .put(&request("T", 0, "a", "", "order-1 shared"))
            .await
            .unwrap();
        glommio::timer::sleep(Duration::from_millis(20)).await;
        let second = store
            .put(&request("T", 0, "b", "", "order-2 shared"))
            .await
            .unwrap();
        store
            .put(&request("U", 0, "c", "", "shared"))
            .await
            .unwrap();
        assert_eq!(
            store.earliest_store_time("T", 0).unwrap(),
            Some(first.store_timestamp_ms)
        );
        assert_eq!(store.offset_by_time("T", 0, 0).unwrap(), 0);
        assert_eq!(
            store
                .offset_by_time("T", 0, second.store_timestamp_ms)
                .unwrap(),
            1
        );
        assert_eq!(store.offset_by_time("T", 0, i64::MAX).unwrap(), 2);
        let found = store.query_by_key("T", "order-2", 0, i64::MAX, 10).unwrap();
        assert_eq!(found.iter().map(body_of).collect::<Vec<_>>(), ["b"]);
        let shared = store.query_by_key("T", "shared", 0, i64::MAX, 10).unwrap();
        assert_eq!(
            shared.iter().map(body_of).collect::<Vec<_>>(),
            ["b", "a"],
            "newest first, topic T only"
        );
        store.close().await.unwrap();
    });
}

#[test]
fn waiting_copies_carry_their_due_time_in_the_consume_queue_before_and_after_a_reopen() {
    // The schedule and timer topics keep each message's due time (TIMER_OUT_MS) where other
    // topics keep the tag's hash, at append and when recovery re-dispatches; their copies
    // are not indexed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    run(async move {
        let (store, _) = Store::open(config(&path)).await.unwrap();
        for (topic, due) in [
            ("SCHEDULE_TOPIC_XXXX", 1_800_000_000_123i64),
            ("rmq_sys_wheel_timer", 42),
        ] {
            let mut waiting = request(topic, 0, "w", "tagA", "k-waiting");
            waiting.properties =
                format!("TAGS\u{1}tagA\u{2}KEYS\u{1}k-waiting\u{2}TIMER_OUT_MS\u{1}{due}\u{2}")
                    .into();
            store.put(&waiting).await.unwrap();
            assert_eq!(store.entry(topic, 0, 0).unwrap().tag_hash, due, "{topic}");
            assert!(store
                .query_by_key(topic, "k-waiting", 0, i64::MAX, 10)
                .unwrap()
                .is_empty());
        }
        store
            .put(&request("T", 0, "t", "tagA", "k-plain"))
            .await
            .unwrap();
        assert_ne!(store.entry("T", 0, 0).unwrap().tag_hash, 42);
        // Dropped without closing: reopened from the consume queue, or re-dispatched from the
        // log past the last checkpoint; the due times are there either way.
        drop(store);
        let (store, _) = Store::open(config(&path)).await.unwrap();
        assert_eq!(
            store.entry("SCHEDULE_TOPIC_XXXX", 0, 0).unwrap().tag_hash,
            1_800_000_000_123
        );
        assert_eq!(
            store.entry("rmq_sys_wheel_timer", 0, 0).unwrap().tag_hash,
            42
        );
        store.close().await.unwrap();
    });
}

const CHILD_ENV: &str = "SHARDMQ_STORE_CRASH_CHILD";

/// In the child: append forever, printing each acknowledged queue offset.
fn crash_child(dir: &str) {
    run(async {
        let (store, _) = Store::open(config(Path::new(dir))).await.unwrap();
        let mut i = 0u64;
        loop {
            let r = store
                .put(&request("T", 0, &format!("c{i}"), "", ""))
                .await
                .unwrap();
            println!("ack {}", r.queue_offset);
            i += 1;
        }
    });
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        crash_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill_9_loses_nothing_acknowledged",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut last_ack = None;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        if let Some(n) = line.strip_prefix("ack ") {
            last_ack = Some(n.parse::<u64>().unwrap());
            if last_ack >= Some(2000) {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last_ack = last_ack.expect("the child acknowledged appends");
    run(async {
        let (store, _) = Store::open(config(dir.path())).await.unwrap();
        let bodies = read_all(&store, "T", 0);
        assert!(
            bodies.len() as u64 > last_ack,
            "acknowledged {} but {} survived",
            last_ack + 1,
            bodies.len()
        );
        for (i, b) in bodies.iter().enumerate() {
            assert_eq!(b, &format!("c{i}"));
        }
        store.close().await.unwrap();
    });
}
