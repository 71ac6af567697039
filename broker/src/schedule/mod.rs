//! The message lifecycle's waiting room: delayed messages (`DELAY` levels), timed messages
//! (RocketMQ 5.x `TIMER_*`) and consumer retries all wait on the shard that received them
//! and are delivered to their real topic when due.
//!
//! - [`levels`]: `messageDelayLevel`, parsed.
//! - [`delay`]: each shard's delay queues (`SCHEDULE_TOPIC_XXXX`, queue = level − 1) and the
//!   task that delivers them in order, with its progress (`delayOffset.json`).
//! - [`timer`]: each shard's timing wheel for arbitrary due times, kept on disk.
//! - [`deliver`]: a waiting message sent on to its real topic (here, or forwarded to the
//!   shard that owns its queue).
//!
//! A waiting message is stored like any other (durable before it is acknowledged) with its
//! real topic and queue in `REAL_TOPIC` / `REAL_QID` and its due time in `TIMER_OUT_MS`; the
//! consume-queue entry's tag field holds that due time, so the schedulers find what is due
//! without reading the log.

pub mod delay;
pub mod deliver;
pub mod levels;
pub mod timer;

use shardmq_protocol::message::properties::{self, names, Properties};

pub use levels::DelayLevels;

use crate::config::BrokerConfig;

/// When a message sent with these properties is to be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// At once (no delay asked, or a due time already past).
    Now,
    /// After delay level `n` (already clamped to the highest level).
    Level(i32),
    /// At this time (ms since the epoch), by the timer.
    At(i64),
}

/// Whether `encoded` properties might ask for a delay or a time (a cheap byte search; the
/// send's hot path declines such messages to [`plan`]).
pub fn may_wait(encoded: &str) -> bool {
    let bytes = encoded.as_bytes();
    memchr::memmem::find(bytes, b"DELAY\x01").is_some()
        || memchr::memmem::find(bytes, b"TIMER_DEL").is_some()
}

/// What `encoded` properties ask for, at `now_ms` ([`now_ms_ceil`]): RocketMQ's rules. `TIMER_DELAY_SEC` beats
/// `TIMER_DELAY_MS`, which beats `TIMER_DELIVER_MS`; a due time more than `timerMaxDelaySec`
/// away is refused; a level above the highest is clamped; a level with a timer is refused.
/// The error is the remark for MESSAGE_ILLEGAL.
pub fn plan(config: &BrokerConfig, encoded: &str, now_ms: i64) -> Result<Plan, String> {
    let (mut level, mut delay_sec, mut delay_ms, mut deliver_ms) = (None, None, None, None);
    for (name, value) in properties::iter(encoded) {
        let slot = match name {
            names::DELAY_TIME_LEVEL => &mut level,
            names::TIMER_DELAY_SEC => &mut delay_sec,
            names::TIMER_DELAY_MS => &mut delay_ms,
            names::TIMER_DELIVER_MS => &mut deliver_ms,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    let number = |name: &str, value: &str| {
        value.trim().parse::<i64>().map_err(|_| {
            format!("property {name} = {value:?} is not a whole number of the unit it names")
        })
    };
    let due = if let Some(v) = delay_sec {
        Some(now_ms.saturating_add(number(names::TIMER_DELAY_SEC, v)?.saturating_mul(1000)))
    } else if let Some(v) = delay_ms {
        Some(now_ms.saturating_add(number(names::TIMER_DELAY_MS, v)?))
    } else if let Some(v) = deliver_ms {
        Some(number(names::TIMER_DELIVER_MS, v)?)
    } else {
        None
    };
    // RocketMQ reads a level that is not a number as no level.
    let level = level
        .and_then(|v| v.trim().parse::<i32>().ok())
        .and_then(|n| config.delay_levels.clamp(n));
    match (due, level) {
        (Some(_), Some(_)) => Err(
            "a message may not have both a delay level (DELAY) and a timer (TIMER_*)".to_owned(),
        ),
        (Some(due), None) => {
            let max_ms = config.timer_max_delay.as_millis() as i64;
            if due.saturating_sub(now_ms) > max_ms {
                return Err(format!(
                    "timer message illegal: due {} ms from now, more than timerMaxDelaySec ({} s)",
                    due.saturating_sub(now_ms),
                    max_ms / 1000
                ));
            }
            Ok(if due <= now_ms {
                Plan::Now
            } else {
                Plan::At(due)
            })
        }
        (None, Some(level)) => Ok(Plan::Level(level)),
        (None, None) => Ok(Plan::Now),
    }
}

/// The properties a waiting copy is stored with: the original ones, plus where it goes
/// (`REAL_TOPIC`, `REAL_QID`), when (`TIMER_OUT_MS`) and, for a level, which (`DELAY`, set to
/// the level kept after clamping). Appended to the original string when none of those is set
/// yet (the usual case: no parse); otherwise set in place.
pub fn waiting_properties(
    encoded: &str,
    real_topic: &str,
    real_queue: i32,
    due_ms: i64,
    level: Option<i32>,
) -> String {
    use std::fmt::Write;
    let has = |name: &str| {
        let bytes = encoded.as_bytes();
        memchr::memmem::find_iter(bytes, name.as_bytes()).any(|at| {
            (at == 0 || bytes[at - 1] == 0x02) && bytes.get(at + name.len()) == Some(&0x01)
        })
    };
    let level_kept = level.is_none_or(|level| {
        properties::find(encoded, names::DELAY_TIME_LEVEL)
            .is_some_and(|v| v.parse::<i32>() == Ok(level))
    });
    let appendable = level_kept
        && !has(names::REAL_TOPIC)
        && !has(names::REAL_QUEUE_ID)
        && !has(names::TIMER_OUT_MS)
        && (encoded.is_empty() || encoded.ends_with(properties::PROPERTY_SEPARATOR));
    if appendable {
        let mut out = String::with_capacity(encoded.len() + real_topic.len() + 64);
        out.push_str(encoded);
        // Names are constants and values topic names and numbers: no separators in them.
        let _ = write!(
            out,
            "{}\u{1}{real_topic}\u{2}{}\u{1}{real_queue}\u{2}{}\u{1}{due_ms}\u{2}",
            names::REAL_TOPIC,
            names::REAL_QUEUE_ID,
            names::TIMER_OUT_MS
        );
        return out;
    }
    let mut props = Properties::decode(encoded);
    let _ = props.set(names::REAL_TOPIC, real_topic);
    let _ = props.set(names::REAL_QUEUE_ID, &real_queue.to_string());
    let _ = props.set(names::TIMER_OUT_MS, &due_ms.to_string());
    if let Some(level) = level {
        let _ = props.set(names::DELAY_TIME_LEVEL, &level.to_string());
    }
    props.encode()
}

/// The properties a waiting message is delivered with: its own, less what made it wait
/// (`DELAY`, `TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`, `TIMER_DELAY_MS`). `REAL_TOPIC`,
/// `REAL_QID` and `TIMER_OUT_MS` stay, as in RocketMQ. One pass, no parse into pairs.
pub fn delivered_properties(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    for (name, value) in properties::iter(encoded) {
        if matches!(
            name,
            names::DELAY_TIME_LEVEL
                | names::TIMER_DELIVER_MS
                | names::TIMER_DELAY_SEC
                | names::TIMER_DELAY_MS
        ) {
            continue;
        }
        out.push_str(name);
        out.push(properties::NAME_VALUE_SEPARATOR);
        out.push_str(value);
        out.push(properties::PROPERTY_SEPARATOR);
    }
    out
}

pub use crate::store::engine::now_ms;

/// Milliseconds since the epoch, rounded up: the base of a due time that must never come
/// before the sender's clock said "now + delay", to the microsecond.
pub fn now_ms_ceil() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros().div_ceil(1000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BrokerConfig {
        let args = <crate::config::Args as clap::Parser>::parse_from(["mqbroker"]);
        BrokerConfig::resolve(&args, 1).unwrap().0
    }

    fn props(pairs: &[(&str, &str)]) -> String {
        let mut p = Properties::new();
        for (k, v) in pairs {
            p.set(k, v).unwrap();
        }
        p.encode()
    }

    #[test]
    fn delay_levels_are_clamped_and_zero_is_no_delay() {
        let c = config();
        assert_eq!(plan(&c, &props(&[("DELAY", "3")]), 0), Ok(Plan::Level(3)));
        assert_eq!(plan(&c, &props(&[("DELAY", "99")]), 0), Ok(Plan::Level(18)));
        assert_eq!(plan(&c, &props(&[("DELAY", "0")]), 0), Ok(Plan::Now));
        assert_eq!(plan(&c, &props(&[("DELAY", "x")]), 0), Ok(Plan::Now));
        assert_eq!(plan(&c, &props(&[("TAGS", "a")]), 0), Ok(Plan::Now));
    }

    #[test]
    fn timers_follow_rocketmqs_precedence_and_bounds() {
        let c = config();
        let now = 1_000_000;
        let p = |pairs: &[(&str, &str)]| plan(&c, &props(pairs), now);
        assert_eq!(p(&[("TIMER_DELAY_SEC", "5")]), Ok(Plan::At(now + 5000)));
        assert_eq!(p(&[("TIMER_DELAY_MS", "250")]), Ok(Plan::At(now + 250)));
        assert_eq!(
            p(&[("TIMER_DELIVER_MS", "1000500")]),
            Ok(Plan::At(1_000_500))
        );
        assert_eq!(
            p(&[("TIMER_DELIVER_MS", "9"), ("TIMER_DELAY_SEC", "2")]),
            Ok(Plan::At(now + 2000))
        );
        // A time in the past delivers at once.
        assert_eq!(p(&[("TIMER_DELIVER_MS", "5")]), Ok(Plan::Now));
        // Beyond timerMaxDelaySec (3 days) it is refused, naming the setting.
        let e = p(&[("TIMER_DELAY_SEC", "259201")]).unwrap_err();
        assert!(e.contains("timerMaxDelaySec"), "{e}");
        assert!(p(&[("TIMER_DELAY_SEC", "259200")]).is_ok());
        assert!(p(&[("TIMER_DELAY_MS", "soon")])
            .unwrap_err()
            .contains("TIMER_DELAY_MS"));
        assert!(p(&[("TIMER_DELAY_MS", "5"), ("DELAY", "2")]).is_err());
    }

    #[test]
    fn may_wait_finds_every_property_that_plans_a_wait() {
        for name in [
            "DELAY",
            "TIMER_DELIVER_MS",
            "TIMER_DELAY_SEC",
            "TIMER_DELAY_MS",
        ] {
            assert!(may_wait(&props(&[("TAGS", "a"), (name, "1")])), "{name}");
        }
        assert!(!may_wait(&props(&[
            ("TAGS", "a"),
            ("KEYS", "k"),
            ("UNIQ_KEY", "AB")
        ])));
    }

    #[test]
    fn waiting_properties_appended_or_set_in_place_read_the_same() {
        // Appended: nothing to replace.
        let plain = props(&[("TAGS", "t"), ("TIMER_DELAY_MS", "5")]);
        let fast = Properties::decode(&waiting_properties(&plain, "real", 2, 77, None));
        assert_eq!(fast.get("REAL_TOPIC"), Some("real"));
        assert_eq!(fast.get("REAL_QID"), Some("2"));
        assert_eq!(fast.get("TIMER_OUT_MS"), Some("77"));
        assert_eq!(fast.len(), 5);
        // A message that waited before (REAL_TOPIC set) and a clamped level: set in place, once.
        let again = props(&[
            ("REAL_TOPIC", "old"),
            ("DELAY", "99"),
            ("TIMER_OUT_MS", "1"),
        ]);
        let slow = Properties::decode(&waiting_properties(&again, "new", 0, 88, Some(18)));
        assert_eq!(slow.get("REAL_TOPIC"), Some("new"));
        assert_eq!(slow.get("DELAY"), Some("18"));
        assert_eq!(slow.get("TIMER_OUT_MS"), Some("88"));
        assert_eq!(slow.len(), 4);
        // A user property whose name merely ends like ours does not count as ours.
        let lookalike = props(&[("MY_REAL_TOPIC", "x")]);
        let p = Properties::decode(&waiting_properties(&lookalike, "r", 1, 5, None));
        assert_eq!(p.get("MY_REAL_TOPIC"), Some("x"));
        assert_eq!(p.get("REAL_TOPIC"), Some("r"));
    }

    #[test]
    fn waiting_and_delivered_properties_round_trip_the_originals() {
        let original = props(&[
            ("TAGS", "t"),
            ("KEYS", "k"),
            ("UNIQ_KEY", "U1"),
            ("DELAY", "2"),
        ]);
        let waiting = waiting_properties(&original, "real", 3, 42, Some(2));
        let w = Properties::decode(&waiting);
        assert_eq!(w.get("REAL_TOPIC"), Some("real"));
        assert_eq!(w.get("REAL_QID"), Some("3"));
        assert_eq!(w.get("TIMER_OUT_MS"), Some("42"));
        let delivered = Properties::decode(&delivered_properties(&waiting));
        assert_eq!(delivered.get("DELAY"), None);
        assert_eq!(delivered.get("TAGS"), Some("t"));
        assert_eq!(delivered.get("KEYS"), Some("k"));
        assert_eq!(delivered.get("UNIQ_KEY"), Some("U1"));
    }
}
