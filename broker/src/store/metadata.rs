//! Metadata kept beside the data — topic configs and consumer offsets in RocketMQ's layouts
//! (and, written by the runtime through the same functions, the queue-move table
//! `queue-moves.json`, the one persisted queue → shard table) — as JSON files, each replaced
//! atomically (write a temporary, fsync, rename,
//! fsync the directory) so a crash leaves either the old file or the new one.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shardmq_protocol::body::{quote_bare_integer_keys, DataVersion, TopicConfig};

use super::error::{StoreError, StoreResult};

/// Topic configs, beside the data.
pub const TOPICS_FILE: &str = "topics.json";
/// Consumer offsets (RocketMQ's name).
pub const OFFSETS_FILE: &str = "consumerOffset.json";

/// Suffix of the temporary a write goes to before it is renamed over the real file.
const TMP_SUFFIX: &str = ".tmp";

/// `<path>.tmp`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(TMP_SUFFIX);
    PathBuf::from(name)
}

/// The directory holding `path`, for the fsync that makes a rename durable.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` atomically: write `<path>.tmp`, fsync it, rename it over `path`,
/// fsync the directory. On failure `path` is untouched and the temporary is removed (best
/// effort); the error names the file and the step that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> StoreResult<()> {
    let tmp = tmp_path(path);
    let written = write_and_sync(&tmp, bytes);
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
        return written;
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io("rename temporary over", path, e));
    }
    sync_dir(parent_dir(path))
}

/// fsyncs a directory, making the files created or renamed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

fn write_and_sync(tmp: &Path, bytes: &[u8]) -> StoreResult<()> {
    let mut file = File::create(tmp).map_err(|e| StoreError::io("create", tmp, e))?;
    file.write_all(bytes)
        .map_err(|e| StoreError::io("write", tmp, e))?;
    file.sync_all().map_err(|e| StoreError::io("fsync", tmp, e))
}

/// Reads `path` as JSON. `Ok(None)` when it does not exist. A stray `<path>.tmp` (a write cut
/// short by a crash) is ignored and removed: the real file is the last complete write.
/// Object keys written as bare integers, as Java's fastjson writes RocketMQ's
/// `consumerOffset.json`, are accepted. Unparsable content is [`StoreError::Corrupt`] naming
/// the file and the byte serde_json stopped at.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> StoreResult<Option<T>> {
    let tmp = tmp_path(path);
    match fs::remove_file(&tmp) {
        Ok(()) => tracing::info!(
            "removed {}: an unfinished write; {} is the last complete one",
            tmp.display(),
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("could not remove stray {}: {e}", tmp.display()),
    }
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read", path, e)),
    };
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok(Some(value)),
        Err(first) => {
            let retried = quote_bare_integer_keys(&bytes)
                .and_then(|quoted| serde_json::from_slice::<T>(&quoted).ok());
            match retried {
                Some(value) => Ok(Some(value)),
                None => Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    offset: byte_offset(&bytes, first.line(), first.column()),
                    reason: format!("not the expected JSON: {first}"),
                }),
            }
        }
    }
}

/// The byte at serde_json's 1-based `line` and byte `column` (0 when it gave no position),
/// clamped to the input.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> u64 {
    if line == 0 {
        return 0;
    }
    let line_start = if line == 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map_or(bytes.len(), |(i, _)| i + 1)
    };
    line_start
        .saturating_add(column.saturating_sub(1))
        .min(bytes.len()) as u64
}

/// Writes `value` to `path` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> StoreResult<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| {
        StoreError::Invalid(format!("cannot encode {} as JSON: {e}", path.display()))
    })?;
    write_atomic(path, &bytes)
}

/// `topics.json`: RocketMQ's `{"dataVersion": {...}, "topicConfigTable": {name: config}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigs {
    pub data_version: DataVersion,
    #[serde(rename = "topicConfigTable")]
    pub table: BTreeMap<String, TopicConfig>,
}

impl TopicConfigs {
    /// Adds or replaces `config` (under its `topic_name`) and moves the data version on, as
    /// RocketMQ's `DataVersion.nextVersion` does: counter + 1, timestamp = `now_ms`.
    pub fn upsert(&mut self, config: TopicConfig, now_ms: i64) {
        self.table.insert(config.topic_name.clone(), config);
        self.next_version(now_ms);
    }

    /// Removes `topic`; moves the data version on when it was there.
    pub fn remove(&mut self, topic: &str, now_ms: i64) -> Option<TopicConfig> {
        let removed = self.table.remove(topic);
        if removed.is_some() {
            self.next_version(now_ms);
        }
        removed
    }

    fn next_version(&mut self, now_ms: i64) {
        self.data_version.counter = self.data_version.counter.saturating_add(1);
        self.data_version.timestamp = now_ms;
    }
}

/// `consumerOffset.json`: RocketMQ's `{"offsetTable": {"<topic>@<group>": {"<queueId>": offset}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerOffsets {
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// RocketMQ's key of a topic and group in the offset table.
fn offset_key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

impl ConsumerOffsets {
    /// Forgets every group's offsets of `topic` (it was deleted); whether any were held.
    pub fn remove_topic(&mut self, topic: &str) -> bool {
        let before = self.offset_table.len();
        self.offset_table
            .retain(|key, _| key.rsplit_once('@').is_none_or(|(t, _)| t != topic));
        self.offset_table.len() != before
    }

    /// The committed offset of `group` on `topic`'s queue `queue_id`.
    pub fn get(&self, topic: &str, group: &str, queue_id: i32) -> Option<i64> {
        self.offset_table
            .get(&offset_key(topic, group))?
            .get(&queue_id)
            .copied()
    }

    /// Every group's committed offset on `topic`'s queue `queue_id`, as (group, offset).
    /// Topics may contain `@` only in retry topics' group part, so the split is at the first `@`.
    pub fn queue_offsets(&self, topic: &str, queue_id: i32) -> Vec<(String, i64)> {
        let prefix = format!("{topic}@");
        self.offset_table
            .iter()
            .filter_map(|(key, queues)| {
                let group = key.strip_prefix(&prefix)?;
                queues.get(&queue_id).map(|o| (group.to_owned(), *o))
            })
            .collect()
    }

    /// Records `offset` as `group`'s committed offset on `topic`'s queue `queue_id`.
    pub fn set(&mut self, topic: &str, group: &str, queue_id: i32, offset: i64) {
        self.offset_table
            .entry(offset_key(topic, group))
            .or_default()
            .insert(queue_id, offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn topic(name: &str, queues: i32) -> TopicConfig {
        TopicConfig {
            topic_name: name.to_owned(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            ..TopicConfig::default()
        }
    }

    fn sample() -> (TopicConfigs, ConsumerOffsets) {
        let mut topics = TopicConfigs::default();
        topics.upsert(topic("TopicA", 8), 1_700_000_000_000);
        topics.upsert(topic("TopicB", 4), 1_700_000_000_001);
        let mut offsets = ConsumerOffsets::default();
        offsets.set("TopicA", "group-1", 0, 42);
        offsets.set("TopicA", "group-1", 3, 7);
        offsets.set("TopicB", "group-2", 1, 1_000_000_000_000);
        (topics, offsets)
    }

    /// Saves the sample in `dir` as the runtime does.
    fn save(dir: &Path) -> (TopicConfigs, ConsumerOffsets) {
        let (topics, offsets) = sample();
        write_json(&dir.join(TOPICS_FILE), &topics).unwrap();
        write_json(&dir.join(OFFSETS_FILE), &offsets).unwrap();
        (topics, offsets)
    }

    #[test]
    fn each_file_round_trips_through_write_and_read() {
        let tmp = tempfile::tempdir().unwrap();
        let (topics, offsets) = save(tmp.path());
        let topics_again: TopicConfigs = read_json(&tmp.path().join(TOPICS_FILE)).unwrap().unwrap();
        let offsets_again: ConsumerOffsets =
            read_json(&tmp.path().join(OFFSETS_FILE)).unwrap().unwrap();
        assert_eq!(topics_again, topics);
        assert_eq!(offsets_again, offsets);
        assert_eq!(topics_again.data_version.counter, 2);
        assert_eq!(offsets_again.get("TopicA", "group-1", 3), Some(7));
    }

    #[test]
    fn files_use_rocketmq_field_names() {
        let tmp = tempfile::tempdir().unwrap();
        save(tmp.path());
        let json = |name: &str| -> serde_json::Value {
            serde_json::from_slice(&fs::read(tmp.path().join(name)).unwrap()).unwrap()
        };
        let topics = json(TOPICS_FILE);
        assert_eq!(topics["dataVersion"]["counter"], 2);
        assert_eq!(topics["topicConfigTable"]["TopicA"]["writeQueueNums"], 8);
        let offsets = json(OFFSETS_FILE);
        assert_eq!(offsets["offsetTable"]["TopicA@group-1"]["0"], 42);
    }

    #[test]
    fn rocketmq_written_files_with_bare_integer_keys_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        // As Java's fastjson writes them: Map<Integer, Long> keys unquoted.
        fs::write(
            tmp.path().join(OFFSETS_FILE),
            "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@please_rename_unique_group_name_4\":{0:250,1:249,2:251,3:250\n\t\t}\n\t}\n}",
        )
        .unwrap();
        fs::write(
            tmp.path().join(TOPICS_FILE),
            r#"{"dataVersion":{"counter":5,"stateVersion":0,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}}}"#,
        )
        .unwrap();
        let offsets: ConsumerOffsets = read_json(&tmp.path().join(OFFSETS_FILE)).unwrap().unwrap();
        let topics: TopicConfigs = read_json(&tmp.path().join(TOPICS_FILE)).unwrap().unwrap();
        let group = "please_rename_unique_group_name_4";
        assert_eq!(offsets.get("TopicTest", group, 2), Some(251));
        assert_eq!(offsets.get("TopicTest", group, 4), None);
        assert_eq!(topics.data_version.counter, 5);
        assert_eq!(topics.table["TopicTest"].read_queue_nums, 4);
    }

    #[test]
    fn a_missing_file_reads_as_none() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            read_json::<ConsumerOffsets>(&tmp.path().join("absent.json")).unwrap(),
            None
        );
    }

    #[test]
    fn a_leftover_tmp_is_ignored_and_removed_and_the_real_file_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(OFFSETS_FILE);
        let mut real = ConsumerOffsets::default();
        real.set("T", "G", 1, 9);
        write_json(&path, &real).unwrap();
        let stray = tmp_path(&path);
        fs::write(&stray, b"{\"offsetTable\": {\"T@G\": {").unwrap();
        assert_eq!(read_json::<ConsumerOffsets>(&path).unwrap(), Some(real));
        assert!(!stray.exists(), "the stray temporary is removed");

        // A tmp with no real file beside it means the first write never finished.
        let fresh = tmp.path().join("fresh.json");
        fs::write(tmp_path(&fresh), b"{}").unwrap();
        assert_eq!(read_json::<ConsumerOffsets>(&fresh).unwrap(), None);
    }

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_tmp() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.json");
        write_atomic(&path, b"first, longer contents").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn garbage_json_is_corrupt_naming_the_file_and_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(OFFSETS_FILE);
        // The bad value starts on line 2, column 18: byte 2 + 17 = 19.
        fs::write(&path, "{\n  \"offsetTable\": @\n}").unwrap();
        let err = read_json::<ConsumerOffsets>(&path).unwrap_err();
        let text = err.to_string();
        match err {
            StoreError::Corrupt {
                path: p, offset, ..
            } => {
                assert_eq!(p, path);
                assert_eq!(offset, 19);
                assert!(text.contains(OFFSETS_FILE), "{text}");
            }
            other => panic!("want Corrupt, got {other:?}"),
        }
        // Right JSON, wrong shape is corrupt too; so is an empty file (at byte 0).
        fs::write(&path, r#"{"offsetTable": {"T@g": {"0": "many"}}}"#).unwrap();
        assert!(matches!(
            read_json::<ConsumerOffsets>(&path),
            Err(StoreError::Corrupt { .. })
        ));
        fs::write(&path, "").unwrap();
        assert!(matches!(
            read_json::<ConsumerOffsets>(&path),
            Err(StoreError::Corrupt { offset: 0, .. })
        ));
    }

    #[test]
    fn byte_offset_follows_serde_lines_and_columns() {
        let text = b"ab\ncde\nf";
        let cases = [
            (0, 0, 0),
            (1, 1, 0),
            (1, 2, 1),
            (2, 1, 3),
            (2, 3, 5),
            (3, 1, 7),
            (3, 9, 8),
            (9, 1, 8),
        ];
        for (line, column, want) in cases {
            assert_eq!(byte_offset(text, line, column), want, "{line}:{column}");
        }
    }

    #[test]
    fn a_failed_write_names_the_file_and_leaves_the_old_one_intact() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(TOPICS_FILE);
        write_atomic(&path, b"old").unwrap();
        // A directory where the temporary must go: creating it fails even for root.
        fs::create_dir(tmp_path(&path)).unwrap();
        let err = write_atomic(&path, b"new").unwrap_err();
        let text = err.to_string();
        match err {
            StoreError::Io { op, path: p, .. } => {
                assert_eq!(op, "create");
                assert_eq!(p, tmp_path(&path));
            }
            other => panic!("want Io, got {other:?}"),
        }
        assert!(text.contains(TOPICS_FILE), "{text}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn a_path_under_a_regular_file_is_an_io_error_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let not_a_dir = tmp.path().join("plain-file");
        fs::write(&not_a_dir, b"").unwrap();
        let dir = not_a_dir.join("meta");
        let err = write_json(&dir.join(OFFSETS_FILE), &ConsumerOffsets::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("plain-file/meta/consumerOffset.json"),
            "{err}"
        );
    }

    #[test]
    fn an_unwritable_directory_is_an_io_error_and_the_old_file_survives() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(OFFSETS_FILE);
        write_atomic(&path, b"old").unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o500)).unwrap();
        let probe = tmp.path().join("probe");
        let privileged = File::create(&probe).is_ok();
        let result = write_atomic(&path, b"new");
        let _ = fs::remove_file(&probe);
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
        if privileged {
            // Running as root (or with CAP_DAC_OVERRIDE): mode bits do not stop writes, so
            // there is nothing to observe here. `a_failed_write_names_the_file_and_leaves_
            // the_old_one_intact` covers the same path in a way root cannot bypass.
            eprintln!("skipped: this process can write to a 0o500 directory");
            return;
        }
        match result {
            Err(StoreError::Io {
                op,
                path: p,
                source,
            }) => {
                assert_eq!(op, "create");
                assert_eq!(p, tmp_path(&path));
                assert_eq!(source.kind(), io::ErrorKind::PermissionDenied);
            }
            other => panic!("want Io, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn consumer_offsets_are_kept_per_topic_group_and_queue() {
        let mut offsets = ConsumerOffsets::default();
        offsets.set("T", "g1", 0, 10);
        offsets.set("T", "g1", 0, 11);
        offsets.set("T", "g2", 0, 20);
        offsets.set("U", "g1", 1, 30);
        assert_eq!(offsets.get("T", "g1", 0), Some(11));
        assert_eq!(offsets.get("T", "g2", 0), Some(20));
        assert_eq!(offsets.get("U", "g1", 0), None);
        assert_eq!(offsets.get("U", "g1", 1), Some(30));
        assert_eq!(offsets.get("V", "g1", 1), None);
    }

    #[test]
    fn topic_upsert_and_remove_move_the_data_version_on() {
        let mut topics = TopicConfigs::default();
        topics.upsert(topic("T", 4), 100);
        assert_eq!(
            (topics.data_version.counter, topics.data_version.timestamp),
            (1, 100)
        );
        assert!(topics.remove("absent", 200).is_none());
        assert_eq!(
            topics.data_version.counter, 1,
            "nothing removed, no new version"
        );
        assert_eq!(topics.remove("T", 300).map(|t| t.read_queue_nums), Some(4));
        assert_eq!(
            (topics.data_version.counter, topics.data_version.timestamp),
            (2, 300)
        );
    }
}
