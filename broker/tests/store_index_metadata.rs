//! The index and metadata files through the public API, as a shard uses them: byte layout
//! checked against RocketMQ's documented IndexFile format, and state surviving a reopen.

use std::fs;
use std::path::Path;

use shardmq_broker::store::index::{key_hash, Index, IndexConfig};
use shardmq_broker::store::metadata::{
    read_json, write_json, ConsumerOffsets, OFFSETS_FILE, TOPICS_FILE,
};

fn be_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn be_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn index_file_bytes_follow_rocketmq_index_file_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let config = IndexConfig {
        slots: 4,
        max_entries: 3,
    };
    let mut index = Index::open(&dir, config).unwrap();
    index.put("hello", 4096, 1_700_000_000_500).unwrap();
    index.put("hello", 8192, 1_700_000_002_400).unwrap();
    index.flush().unwrap();

    assert_eq!(names(&dir), ["00000001700000000500"]);
    let bytes = fs::read(dir.join("00000001700000000500")).unwrap();
    assert_eq!(bytes.len(), 40 + 4 * 4 + 3 * 20);
    // Header.
    assert_eq!(be_i64(&bytes, 0), 1_700_000_000_500, "beginTimestamp");
    assert_eq!(be_i64(&bytes, 8), 1_700_000_002_400, "endTimestamp");
    assert_eq!(be_i64(&bytes, 16), 4096, "beginPhyOffset");
    assert_eq!(be_i64(&bytes, 24), 8192, "endPhyOffset");
    assert_eq!(be_i32(&bytes, 32), 1, "hashSlotCount: slots in use");
    assert_eq!(be_i32(&bytes, 36), 3, "indexCount: next free entry");
    // "hello".hashCode() = 99162322, slot 99162322 % 4 = 2, holding the newest entry (2).
    let hash = 99_162_322;
    assert_eq!(key_hash("hello"), hash);
    let slots: Vec<i32> = (0..4).map(|s| be_i32(&bytes, 40 + 4 * s)).collect();
    assert_eq!(slots, [0, 0, 2, 0]);
    // Entry 0 unused; entry 1 then entry 2 (linked back to 1, stored 1 whole second later).
    let entry = |n: usize| {
        let at = 40 + 4 * 4 + 20 * n;
        (
            be_i32(&bytes, at),
            be_i64(&bytes, at + 4),
            be_i32(&bytes, at + 12),
            be_i32(&bytes, at + 16),
        )
    };
    assert_eq!(entry(0), (0, 0, 0, 0));
    assert_eq!(entry(1), (hash, 4096, 0, 0));
    assert_eq!(entry(2), (hash, 8192, 1, 1));

    // The file is full (entries 1 and 2 of 3): the next put starts a second file.
    index.put("hello", 9000, 1_700_000_003_000).unwrap();
    assert_eq!(
        names(&dir),
        ["00000001700000000500", "00000001700000003000"]
    );
    assert_eq!(
        index.query("hello", 0, i64::MAX, 10),
        vec![9000, 8192, 4096]
    );
}

#[test]
fn a_shard_dir_reopened_without_flush_keeps_index_and_saved_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let shard = tmp.path().join("shard-1");
    let config = IndexConfig {
        slots: 16,
        max_entries: 4,
    };
    {
        let mut index = Index::open(&shard.join("index"), config).unwrap();
        let mut offsets = ConsumerOffsets::default();
        for position in 0..5u64 {
            let props = format!("KEYS\u{1}order-{position} batch-7\u{2}");
            index
                .put_message_keys(&props, position * 100, 1_000 * position as i64)
                .unwrap();
        }
        offsets.set("Orders", "billing", 0, 3);
        write_json(&shard.join(OFFSETS_FILE), &offsets).unwrap();
        // Dropped without Index::flush: the mapped pages are in the page cache.
    }
    let index = Index::open(&shard.join("index"), config).unwrap();
    assert_eq!(index.last_position(), Some(400));
    assert_eq!(index.query("order-3", 0, i64::MAX, 10), vec![300]);
    assert_eq!(
        index.query("batch-7", 1_000, 3_000, 10),
        vec![300, 200, 100]
    );
    let offsets: ConsumerOffsets = read_json(&shard.join(OFFSETS_FILE)).unwrap().unwrap();
    assert_eq!(offsets.get("Orders", "billing", 0), Some(3));
    assert!(!shard.join(TOPICS_FILE).exists(), "topics were never saved");
}
